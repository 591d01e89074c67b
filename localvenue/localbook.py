"""LocalBook: a PaperBroker (the fill model) seen through a broker's numbering, the part both local
exchanges share (kite/exchange.py, upstox/exchange.py).

Every order lives in the wrapped PaperBroker, whose journal makes it durable, and the order's tag IS
the paper order's client id, so a server reopened on the same journal still finds orders by tag.
Broker order ids are numeric strings: paper "P000000042" is `ORDER_ID_BASE + 42`, and back. Trade
ids are the order number times 1000 plus the fill's position in that order's fills, so they are
stable across a reopen too. Prices come only from `on_ticks`: the server never invents one, and the
clock the rows show is the last tick's (wall clock before the first tick).

Thread-safe: one re-entrant lock around the paper broker, taken by HTTP handler threads and
`on_ticks` alike. A subclass sets ORDER_ID_BASE, TRADE_ID_BASE and ns_to_ist (its parse.ns_to_ist),
says how it refuses an order id it does not know (`_unknown_order(message)`) and what the paper
broker refused (`_refused(action, message)`): the broker's error, in its status, code and
punctuation; and it renders rows with `_order_row(order)` and `_trade_row(trade,
n)`.
"""

import threading
import time

from common.errors import BrokerRejected
from orders.brokers.paper.broker import PaperBroker


class LocalBook:
    """Parameters
    ----------
    instruments : INSTRUMENT_DTYPE rows (or an InstrumentTable: its .rows are used).
    paper_journal : the wrapped PaperBroker's journal file (reopened if it exists).
    max_fill_qty_per_tick, slippage_ticks : the paper fill model's knobs.
    clock : wall-clock ns, the rows' time before the first tick.
    """

    ORDER_ID_BASE = 0
    TRADE_ID_BASE = 0

    def __init__(self, instruments, paper_journal: str, *, max_fill_qty_per_tick: int = 0,
                 slippage_ticks: int = 0, clock=time.time_ns):
        self.rows = getattr(instruments, "rows", instruments)
        self._clock = clock
        self.paper = PaperBroker(paper_journal, self.rows, slippage_ticks=slippage_ticks,
                                 max_fill_qty_per_tick=max_fill_qty_per_tick)
        self.lock = threading.RLock()
        self.last_price: dict[int, float] = {}
        self._last_seq = 0
        self._last_ts = 0

    # ---------------------------------------------------------------- ids

    def wire_order_id(self, paper_id: str) -> str:
        """The broker's order id for a paper order id."""
        return str(self.ORDER_ID_BASE + int(paper_id[1:]))

    def paper_order_id(self, order_id) -> str:
        """The paper order id for the broker's order id; refused for one this book never made."""
        number = int(order_id) - self.ORDER_ID_BASE if str(order_id).isdigit() else -1
        if number <= 0:
            raise self._unknown_order(f"Invalid order_id {order_id!r}")
        return f"P{number:09d}"

    def trade_id(self, trade, n: int) -> str:
        """The broker's trade id of the order's n-th fill (1-based)."""
        return str(self.TRADE_ID_BASE + int(trade.broker_order_id[1:]) * 1000 + n)

    # ---------------------------------------------------------------- books

    def orders(self) -> list[dict]:
        with self.lock:
            return [self._order_row(o) for o in self.paper.orders()]

    def trades(self, order_id: str | None = None) -> list[dict]:
        """The day's trade rows, or one order's (by the broker's order id)."""
        with self.lock:
            rows = []
            count: dict[str, int] = {}
            for t in self.paper.trades():
                count[t.broker_order_id] = count.get(t.broker_order_id, 0) + 1
                row = self._trade_row(t, count[t.broker_order_id])
                if order_id is None or row["order_id"] == order_id:
                    rows.append(row)
            return rows

    def _paper_call(self, action: str, *args):
        """Under the lock: the paper broker's place / modify / cancel, a refusal (a final order, a
        quantity below the filled one, ...) turned into the broker's error."""
        try:
            return getattr(self.paper, action)(*args)
        except BrokerRejected as e:
            raise self._refused(action, str(e)) from None

    def _paper_order(self, boid: str):
        order = next((o for o in self.paper.orders() if o.broker_order_id == boid), None)
        if order is None:
            raise self._unknown_order("Order not found")
        return order

    def _day_totals(self, instrument: int) -> tuple[int, float, int, float]:
        """(bought qty, bought value, sold qty, sold value) of the day's trades in `instrument`."""
        trades = [t for t in self.paper.trades() if t.instrument == instrument]
        buys, sells = [t for t in trades if t.side > 0], [t for t in trades if t.side < 0]
        return (sum(t.qty for t in buys), sum(t.qty * t.price for t in buys),
                sum(t.qty for t in sells), sum(t.qty * t.price for t in sells))

    def _unrealised(self, position) -> tuple[float, float]:
        """(last price, unrealised P&L at it) of a paper position; 0 before any tick."""
        last = self.last_price.get(position.instrument, 0.0)
        return last, (last - position.avg_price) * position.qty if position.qty and last else 0.0

    # ---------------------------------------------------------------- ticks and time

    def _record_ticks(self, ticks) -> None:
        """Under the lock, after matching: the last prices, and the seq and clock later orders
        see."""
        for tick in ticks:
            self.last_price[int(tick["instrument"])] = float(tick["price"])
        if len(ticks):
            self._last_seq = max(self._last_seq, int(ticks["seq"][-1]))
            self._last_ts = int(ticks["ts_event_ns"][-1])

    def _now_ns(self) -> int:
        return self._last_ts or self._clock()

    def now_ist(self) -> str:
        return self.ns_to_ist(self._now_ns())

    def close(self) -> None:
        self.paper.close()

    # ---------------------------------------------------------------- rendering (the broker's)

    @staticmethod
    def ns_to_ist(ts_ns: int) -> str:
        raise NotImplementedError

    def _unknown_order(self, message: str) -> Exception:
        raise NotImplementedError

    def _refused(self, action: str, message: str) -> Exception:
        raise NotImplementedError

    def _order_row(self, order) -> dict:
        raise NotImplementedError

    def _trade_row(self, trade, n: int) -> dict:
        raise NotImplementedError
