"""PaperBroker: a simulated, durable exchange that satisfies the Broker interface.

Durable: every accepted or refused placement, modify, cancel, stop trigger and fill is appended to
its own journal (orders/brokers/paper/journal.py) before the call returns, and a new PaperBroker on
the same path rebuilds its whole order book from that journal. So after the orders process is
killed, the "broker" still knows every order it took, and the in-doubt lookup by client order id is
real.

Deterministic: fills come from `on_ticks` (orders/brokers/paper/matching.py), a pure function of the
tick stream and the orders. Its clock is the last tick it matched (seq and ts_event_ns); every
journal record carries that clock, so a rebuilt broker skips ticks it had already matched, and its
rate limit (off by default) counts placements within one second of market time, never wall-clock.

What it refuses, the way the real thing does:
- input errors (qty <= 0, unknown order type, side or instrument, a missing price or trigger) raise
  BrokerRejected and leave no trace, like Kite's 400 InputException;
- exchange rules (qty above the freeze quantity, qty not a multiple of the lot, a price or trigger
  that is not a multiple of the tick size) are recorded as a REJECTED order, like an RMS rejection
  after the placement returned an order id;
- more than `rate_per_sec` placements within one second raise BrokerRetryable (code "429").
"""

import numpy as np

from common.errors import BrokerRejected, BrokerRetryable
from common.ids import fill_id
from orders import statemachine as sm
from orders.brokers.base import (ORDER_TYPES, Broker, BrokerAck, BrokerOrder, BrokerTrade,
                                 OrderRequest, CAP_PARTIAL_FILLS)
from orders.brokers.paper.paperbook import PaperBook, PaperOrder, off_tick
from orders.brokers.paper.journal import PaperJournal
from orders.brokers.paper.matching import EV_FILL, WorkingOrders

NS_PER_S = 1_000_000_000


class PaperBroker(Broker):
    """The simulated broker: fills only on ticks (its matching kernel), its book the process's own.

    Parameters
    ----------
    journal_path : the broker's own journal; reopened (and the book rebuilt) if it exists.
    instruments : INSTRUMENT_DTYPE rows (tick_size, lot_size, freeze_qty, symbol), indexed as ticks
    are. slippage_ticks : adverse ticks on MARKET and SL-M fills
    (config.broker.paper.slippage_ticks). max_fill_qty_per_tick : most units one order fills per
    tick; 0 = no limit. rate_per_sec : most placements per second of market time; 0 = no limit.
    fsync : fdatasync every journal record.
    """

    # fills only on ticks, found by on_ticks: nothing to poll between
    reports_fills_async = False
    pushes_order_updates = False
    book_is_ours = True             # its book is this process's: nothing to reconcile against

    def __init__(self, journal_path: str, instruments, *, slippage_ticks: int = 0,
                 max_fill_qty_per_tick: int = 0, rate_per_sec: int = 0, fsync: bool = False):
        self.capabilities = frozenset({CAP_PARTIAL_FILLS}) if max_fill_qty_per_tick else frozenset()
        self._instruments = instruments
        self._n_instruments = len(instruments)
        self._tick_size = instruments["tick_size"].astype("float64")
        # (freeze qty, lot size, tick size) per instrument as Python numbers, for every placement
        self._rules = list(zip(instruments["freeze_qty"].tolist(), instruments["lot_size"].tolist(),
                               self._tick_size.tolist()))
        self._slippage_ticks = int(slippage_ticks)
        self._max_fill = int(max_fill_qty_per_tick)
        self._rate_per_sec = int(rate_per_sec)
        self._book = PaperBook()
        self._working = WorkingOrders(len(instruments), self._tick_size)
        self._events: list = []
        self._clock = np.zeros(2, np.int64)     # the kernel's clock, in and out (see on_ticks)
        self._journal = PaperJournal(journal_path, fsync=fsync)
        for record in self._journal.records:
            self._book.apply(record)
        self._reindex()

    # ---------------------------------------------------------------- order entry

    def place(self, req: OrderRequest) -> BrokerAck:
        self._check_input(req)
        self._check_rate()
        reason = self._exchange_rule_violation(req)
        book = self._book
        record = {"k": "place", "seq": book.clock_seq, "ts": book.clock_ns,
                  "boid": book.next_broker_order_id(), "coid": req.client_order_id,
                  "instr": req.instrument, "symbol": req.symbol, "exchange": req.exchange,
                  "side": req.side, "qty": req.qty, "type": req.order_type, "price": req.price,
                  "trigger": req.trigger_price, "after": req.after_seq,
                  "status": sm.REJECTED if reason else sm.ACCEPTED, "reason": reason}
        order = self._record(record)
        code = "RMS" if reason else ""
        return BrokerAck(order.broker_order_id, order.client_order_id, order.status, reason, code)

    def modify(self, broker_order_id: str, qty: int | None = None, price: float | None = None,
               trigger_price: float | None = None) -> BrokerAck:
        order = self._working_order(broker_order_id, "modify")
        new_qty = order.qty if qty is None else int(qty)
        new_price = order.price if price is None else float(price)
        new_trigger = order.trigger_price if trigger_price is None else float(trigger_price)
        if new_qty <= order.filled_qty:
            raise BrokerRejected(f"cannot modify {broker_order_id} to qty {new_qty}: "
                                 f"{order.filled_qty} already filled", code="InputException")
        tick = float(self._tick_size[order.instrument])
        if off_tick(new_price, tick) or off_tick(new_trigger, tick):
            raise BrokerRejected(f"price not a multiple of the tick size {tick}",
                                 code="InputException")
        self._record({"k": "modify", "seq": self._book.clock_seq, "ts": self._book.clock_ns,
                      "boid": broker_order_id, "qty": new_qty, "price": new_price,
                      "trigger": new_trigger})
        return BrokerAck(broker_order_id, order.client_order_id, order.status)

    def cancel(self, broker_order_id: str) -> BrokerAck:
        order = self._working_order(broker_order_id, "cancel")
        self._record({"k": "cancel", "seq": self._book.clock_seq, "ts": self._book.clock_ns,
                      "boid": broker_order_id})
        return BrokerAck(broker_order_id, order.client_order_id, sm.CANCELED)

    # ---------------------------------------------------------------- lookups

    def find_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        order = self._book.by_client_id.get(client_order_id)
        return order.snapshot() if order is not None else None

    def orders(self) -> list[BrokerOrder]:
        return [o.snapshot() for o in self._book.orders.values()]

    def trades(self) -> list[BrokerTrade]:
        return list(self._book.trades)

    def positions(self):
        return self._book.positions(self._instruments)

    def poll_events(self) -> list:
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        self._journal.close()

    # ---------------------------------------------------------------- matching

    def on_ticks(self, ticks, start: int, stop: int) -> int:
        """Match ticks[start:stop]; return the index of the first tick that filled or triggered a
        stop, else `stop` (the engine reacts to it before the next tick is matched)."""
        if start >= stop:
            return stop
        book, w, clock = self._book, self._working, self._clock
        # one array kept for every call, refilled in place: cheaper than a new one per call
        clock[0], clock[1] = book.clock_seq, book.clock_ns
        index, n_ev = w.match(ticks, start, stop, self._tick_size, self._slippage_ticks,
                              self._max_fill, clock)
        seq, ts = clock.tolist()
        book.set_clock(seq, ts)
        if n_ev:
            # Every event is on the tick the kernel stopped at, the last one it matched: its seq
            # and ts_event_ns are the clock's (no per-event lookup into the structured ticks).
            slots = w.slot_orders
            for e in range(n_ev):
                order = slots[int(w.ev_slot[e])]
                if w.ev_kind[e] == EV_FILL:
                    self._record({"k": "fill", "seq": seq, "ts": ts, "boid": order.broker_order_id,
                                  "trade_id": fill_id(order.client_order_id, order.n_fills + 1),
                                  "qty": int(w.ev_qty[e]), "price": float(w.ev_price[e])},
                                 matched=True)
                else:
                    self._record({"k": "trigger", "seq": seq, "ts": ts,
                                  "boid": order.broker_order_id}, matched=True)
                    self._events.append(order.snapshot())
            if w.needs_compaction():
                self._reindex()
        return index

    # ---------------------------------------------------------------- internals

    def _record(self, record: dict, *, matched: bool = False) -> PaperOrder:
        """Journal first, then apply: the book never holds what the journal lacks.

        `matched`: a fill or trigger the kernel just found (on_ticks). Its band is already the
        instrument's, and no compaction in the middle of on_ticks' events, which name slots.
        """
        self._journal.append(record)
        order, trade, working = self._book.apply(record)
        if trade is not None:
            self._events.append(trade)
        if self._working.track(order, working, matched=matched) and not matched:
            self._reindex()     # more dead slots than live ones
        return order

    def _reindex(self) -> None:
        self._working.rebuild(self._book.working())

    def _working_order(self, broker_order_id: str, verb: str) -> PaperOrder:
        order = self._book.orders.get(broker_order_id)
        if order is None:
            raise BrokerRejected(f"cannot {verb} unknown order {broker_order_id}",
                                 code="InputException")
        if order.status in sm.TERMINAL:
            raise BrokerRejected(f"cannot {verb} order {broker_order_id}: it is {order.status}",
                                 code="InputException")
        return order

    def _check_input(self, req: OrderRequest) -> None:
        problem = ""
        if req.qty <= 0:
            problem = f"quantity must be positive, got {req.qty}"
        elif req.side not in (1, -1):
            problem = f"side must be +1 or -1, got {req.side}"
        elif req.order_type not in ORDER_TYPES:
            problem = f"unknown order type {req.order_type!r}"
        elif not 0 <= req.instrument < self._n_instruments:
            problem = f"unknown instrument {req.instrument}"
        elif req.order_type in ("LIMIT", "SL") and not req.price > 0:
            problem = f"{req.order_type} needs a positive price"
        elif req.order_type in ("SL", "SL-M") and not req.trigger_price > 0:
            problem = f"{req.order_type} needs a positive trigger price"
        if problem:
            raise BrokerRejected(problem, code="InputException")

    def _check_rate(self) -> None:
        if self._rate_per_sec and self._book.placements_within(self._book.clock_ns - NS_PER_S) >= \
                self._rate_per_sec:
            raise BrokerRetryable("Too many requests", code="429", http_status=429)

    def _exchange_rule_violation(self, req: OrderRequest) -> str:
        freeze, lot, tick = self._rules[req.instrument]
        if freeze and req.qty > freeze:
            return f"quantity {req.qty} is above the freeze quantity {freeze}"
        if lot > 1 and req.qty % lot:
            return f"quantity {req.qty} is not a multiple of the lot size {lot}"
        if req.order_type in ("LIMIT", "SL") and off_tick(req.price, tick):
            return f"price {req.price} is not a multiple of the tick size {tick}"
        if req.order_type in ("SL", "SL-M") and off_tick(req.trigger_price, tick):
            return f"trigger price {req.trigger_price} is not a multiple of the tick size {tick}"
        return ""
