"""Recovery: finding out at the broker what the journal does not know.

Three questions, each asked by client order id (the broker carries ours in the order's tag):

- an order in doubt (`OrderSubmitting` journaled, the broker's answer lost: a crash, a timeout) is
  looked up, after a restart and then every IN_DOUBT_RETRY_NS of market time: found, its status
  is journaled; never received, it is sent (again) — never before the lookup says so;
- fills the broker made that the journal lacks (a crash between the fill and its event);
- working orders the broker has since canceled or rejected, and stops it has since triggered.

The engine (orders/engine.py `resolve_in_doubt`, `_settle`) decides when to ask; this module asks
through the gateway (orders/gateway.py) and journals through the engine's journal; what it finds is
journaled by the gateway as a polled broker report would be (`on_order`, `on_trade`).
"""

from collections.abc import Callable, Iterator

from common.errors import BrokerError, BrokerFatal
from common.messages import OrderInDoubt, OrderRejected, OrderSubmitting
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerTrade
from orders.exposure import NEVER_NS
from orders.gateway import BrokerGateway, EngineJournal, order_of

IN_DOUBT_RETRY_NS = 1_000_000_000
# OrderRejected.code of an entry the broker never received and that is not sent again: entries had
# closed (the cut-off, a halt, a square-off or flatten, the day) by the time it was known absent.
NOT_SENT = "NOT_SENT"


class Recovery:
    """The in-doubt lookups and the restart's questions to the broker (see the module docstring).

    Parameters
    ----------
    gateway : the engine's BrokerGateway (its broker, its refused-session state, `send`,
    `on_order`). book : the engine's orders.orderbook.OrderBook.
    journal : the engine's EngineJournal.
    clock : the market clock, ns.
    stats : the engine's counters.
    entry_may_go : order -> whether that entry, never received by the broker, may be sent now
        (the engine's trading state, the session phase and day, its bracket).
    """

    def __init__(
        self,
        gateway: BrokerGateway,
        book,
        journal: EngineJournal,
        clock: Callable[[], int],
        *,
        stats: dict,
        entry_may_go: Callable[[object], bool],
    ):
        self.gateway, self.book, self._journal, self._now = gateway, book, journal, clock
        self.stats, self._entry_may_go = stats, entry_may_go

    def retry_due(self, seq: int) -> None:
        """At tick `seq`: look up again each order in doubt for IN_DOUBT_RETRY_NS or longer."""
        for order in self.book.unresolved():
            if self.gateway.broker_down:
                break                     # no lookup with a refused session: they wait for it
            if order.status == sm.IN_DOUBT and self._now() >= order.settled_ns + IN_DOUBT_RETRY_NS:
                self.resolve(order, seq, resend_journaled=True)

    def next_due_ns(self) -> int:
        """When the next order in doubt is due for its lookup (NEVER_NS if none)."""
        due = NEVER_NS
        for order in self.book.unresolved():
            if order.status == sm.IN_DOUBT:
                due = min(due, order.settled_ns + IN_DOUBT_RETRY_NS)
        return due

    def resolve(self, order, seq: int, *, resend_journaled: bool) -> None:
        """Look an order of unknown outcome up by client id; send it only if never received."""
        gw = self.gateway
        if gw.broker_down:
            return                        # stays in doubt until the session works again
        if order.unsent:                  # every attempt refused before sending: nothing to find
            self._resend(order, seq, resend_journaled)
            return
        try:
            found = gw.broker.find_by_client_id(order.client_order_id)
        except BrokerError as e:
            if isinstance(e, BrokerFatal):
                gw.refused(e)
            if order.status != sm.IN_DOUBT:
                self._journal.mark()
                self._journal.emit(OrderInDoubt(ts_event_ns=self._now(), reason=f"lookup: {e}",
                                                client_order_id=order.client_order_id))
            return
        if found is not None:
            gw.on_order(found)
            return
        self._resend(order, seq, resend_journaled)

    def _resend(self, order, seq: int, resend_journaled: bool) -> None:
        """Send an order the broker is known not to have. An entry is sent only while
        `entry_may_go` says so (trading active, before the cut-off of its day, its bracket open):
        one in doubt across the cut-off, a halt, a flatten or the night would otherwise open a
        position the session no longer allows; it is rejected here instead, and its bracket ends as
        any refused entry's does."""
        self._journal.mark()
        if order.role == "ENTRY" and not self._entry_may_go(order):
            self._journal.emit(OrderRejected(
                ts_event_ns=self._now(), client_order_id=order.client_order_id, code=NOT_SENT,
                reason="not sent again: never received by the broker, and entries have closed "
                       "since (the entry cut-off, a halt, a square-off or flatten, the day's end)"))
            return
        if resend_journaled:      # a new attempt after a failed one is its own "about to send"
            self._journal.emit(OrderSubmitting(
                ts_event_ns=self._now(), client_order_id=order.client_order_id,
                intent_id=order.intent_id, strategy=order.strategy, bracket_id=order.bracket_id,
                role=order.role, instrument=order.instrument, symbol=order.symbol, side=order.side,
                qty=order.qty, order_type=order.order_type, price=order.price,
                trigger_price=order.trigger_price, tick_seq=seq))
        self.gateway.send(order, seq)

    def missing_fills(self) -> list[BrokerTrade]:
        """Fills of our orders the broker made that the journal lacks, in tick order."""
        missing = [t for t in self.gateway.broker.trades() if t.trade_id not in self.book.fill_ids
                   and order_of(self.book, t.client_order_id, t.broker_order_id) is not None]
        return sorted(missing, key=lambda t: t.tick_seq)

    def final_statuses(self) -> Iterator[BrokerOrder]:
        """Working orders the broker has canceled or rejected, or stops it has triggered (news to a
        restarted engine, which cannot have heard it), each yielded as it is found (the caller
        applies it before the next is asked). A refused session halts and raises."""
        for order in self.book.working():
            try:
                found = self.gateway.broker.find_by_client_id(order.client_order_id)
            except BrokerFatal as e:
                self.gateway.refused(e)
                raise
            except BrokerError as e:
                self.gateway.count_failure(e)
                continue
            if found is not None and (found.status in (sm.CANCELED, sm.REJECTED)
                                      or found.triggered and not order.triggered):
                yield found
