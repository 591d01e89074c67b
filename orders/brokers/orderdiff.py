"""OrderDiff: what a live broker's records of our orders add to what its adapter already reported.

Both live adapters (kite/, upstox/) learn about their orders from records the broker hands them: the
order book they poll and, for Kite, the order updates its ticker socket pushes. Whichever path a
record comes by, it goes through this one diff, so an update seen twice (by the socket and by a
poll) is reported once:

- new trades first: the trade book is read only when some order's filled quantity grew beyond the
  trades already returned, and each trade id is returned once per process (the engine dedupes
  across restarts by fill id);
- then each order whose state differs from the last one reported, unless it is older than that
  one: a pushed update can be overtaken by a poll or by another update, so a final state stays
  final and a filled quantity never shrinks.

When the trade book cannot be read yet (throttled) nothing at all is reported, so nothing is lost:
the caller offers the same records again later. Pure bookkeeping: no I/O of its own.
"""

from collections.abc import Callable

from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerTrade


class OrderDiff:
    """Parameters
    ----------
    trade_from_row : one trade-book row -> BrokerTrade, or None for an instrument outside the table.
    """

    def __init__(self, trade_from_row: Callable[[dict], BrokerTrade | None]):
        self._trade_from_row = trade_from_row
        self._reported: dict[str, BrokerOrder] = {}   # last state reported, by broker order id
        self._traded_qty: dict[str, int] = {}         # units of trades returned, by broker order id
        self._trade_ids: set[str] = set()

    def last(self, broker_order_id: str) -> BrokerOrder | None:
        """The state last reported for this order, None if none was."""
        return self._reported.get(broker_order_id)

    def changes(
        self, orders: list[BrokerOrder], read_trades: Callable[[], list[dict] | None]
    ) -> list | None:
        """New BrokerTrades, then the BrokerOrders of `orders` whose state changed; None when a
        filled quantity grew and `read_trades()` (the trade book's rows) answered None."""
        grew = any(o.filled_qty > self._traded_qty.get(o.broker_order_id, 0) for o in orders)
        events: list = []
        if grew:
            rows = read_trades()
            if rows is None:
                return None
            events.extend(self._new_trades(rows))
        for order in orders:
            if self._reported.get(order.broker_order_id) != order and not self._is_stale(order):
                self._reported[order.broker_order_id] = order
                events.append(order)
        return events

    def _is_stale(self, order: BrokerOrder) -> bool:
        """Older than what was reported: a final state stays final, a filled quantity never
        shrinks."""
        last = self._reported.get(order.broker_order_id)
        return last is not None and last != order and (
            last.status in sm.TERMINAL or order.filled_qty < last.filled_qty)

    def _new_trades(self, rows: list[dict]) -> list[BrokerTrade]:
        """Trades of our orders (a client id known) not returned before."""
        out = []
        for row in rows:
            trade = self._trade_from_row(row)
            if trade is None or not trade.client_order_id or trade.trade_id in self._trade_ids:
                continue
            self._trade_ids.add(trade.trade_id)
            self._traded_qty[trade.broker_order_id] = \
                self._traded_qty.get(trade.broker_order_id, 0) + trade.qty
            out.append(trade)
        return out
