"""Canned instruments, ticks, intents and a wired engine for the orders tests (no wall-clock
anywhere).

`Desk` wires an OrderEngine to a PaperBroker journaled under a test directory and records every
event the engine emits, the way orders/stage.py will journal them. Times are IST on a fixed trading
day.
"""

import datetime as dt
import os

import numpy as np

from common.clock import IST
from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.messages import SignalRaised
from orders.brokers.paper.broker import PaperBroker
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from orders.limits import RiskLimits
from tests.orders.risk_support import limits_of

DAY = dt.date(2026, 3, 2)
COMPARE_SKIP = ("ts_init_ns", "source", "seq", "v")


def ist_ns(hh: int, mm: int, ss: float = 0.0) -> int:
    """Wall-clock ns of an IST time of day on the test trading day."""
    midnight = dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=IST)
    return int(midnight.timestamp()) * 1_000_000_000 + int(((hh * 60 + mm) * 60 + ss) * 1e9)


def instruments(n: int = 2, *, tick_size: float = 0.05, lot_size: int = 1, freeze_qty: int = 0):
    rows = np.zeros(n, INSTRUMENT_DTYPE)
    rows["token"] = np.arange(1, n + 1)
    rows["tick_size"] = tick_size
    rows["lot_size"] = lot_size
    rows["freeze_qty"] = freeze_qty
    rows["symbol"] = [f"SYM{i}".encode() for i in range(n)]
    rows["exchange"] = b"NSE"
    return rows


class Tape:
    """Ticks built one by one; seq from 1, `step_ms` apart from `start_ns` unless given a time."""

    def __init__(self, start_ns: int | None = None, step_ms: float = 100.0):
        self.rows: list[tuple] = []
        self.next_ns = ist_ns(9, 20) if start_ns is None else start_ns
        self.step_ns = int(step_ms * 1_000_000)

    @property
    def seq(self) -> int:
        """The seq of the last tick added."""
        return len(self.rows)

    def add(self, instrument: int, price: float, *, at_ns: int | None = None) -> int:
        ts = self.next_ns if at_ns is None else at_ns
        self.rows.append((len(self.rows) + 1, ts, ts, price, instrument))
        self.next_ns = ts + self.step_ns
        return len(self.rows)

    def prices(self, instrument: int, prices) -> int:
        for p in prices:
            self.add(instrument, p)
        return self.seq

    def array(self, start_seq: int = 1) -> np.ndarray:
        rows = self.rows[start_seq - 1:]
        out = np.zeros(len(rows), TICK_DTYPE)
        for i, (seq, ts, recv, price, instrument) in enumerate(rows):
            out[i]["seq"], out[i]["ts_event_ns"], out[i]["ts_recv_ns"] = seq, ts, recv
            out[i]["price"], out[i]["instrument"], out[i]["qty"] = price, instrument, 1
        return out


def intent(tick_seq: int, *, instrument: int = 0, side: int = 1, qty: int = 10,
           order_type: str = "MARKET", limit_price: float = 0.0, stop_loss: float = 0.0,
           target: float = 0.0, strategy: str = "mac", ts_ns: int = 0) -> SignalRaised:
    return SignalRaised(ts_event_ns=ts_ns, intent_id=f"{strategy}:{instrument}:{tick_seq}",
                        strategy=strategy, instrument=instrument, symbol=f"SYM{instrument}",
                        side=side, qty=qty, order_type=order_type, limit_price=limit_price,
                        stop_loss=stop_loss, target=target, tick_seq=tick_seq, ts_recv_ns=ts_ns,
                        ts_init_ns=0)


def comparable(events) -> list[tuple]:
    """Events as plain tuples without the wall-clock and bus-envelope fields."""
    return [(type(m).__name__,) + tuple((k, getattr(m, k)) for k in m.__struct_fields__
                                        if k not in COMPARE_SKIP) for m in events]


def of_type(events, cls) -> list:
    return [m for m in events if isinstance(m, cls)]


class Desk:
    """An engine + paper broker + event journal in `directory`, built from keyword overrides."""

    def __init__(self, directory, *, rows=None, limits: RiskLimits | None = None,
                 max_fill_qty_per_tick: int = 0, slippage_ticks: int = 0, stop_order_type="SL-M",
                 emit=None, wrap=None):
        self.directory = str(directory)
        self.rows = instruments() if rows is None else rows
        # Legs at the intent's own prices, so a test reads them off its tape; the default (legs
        # from the entry's fill) has its own tests in tests/orders/test_leg_prices.py.
        self.limits = limits or limits_of(enforce_session=False, leg_prices="signal")
        self.broker_options = dict(slippage_ticks=slippage_ticks,
                                   max_fill_qty_per_tick=max_fill_qty_per_tick)
        self.events: list = []
        self.wrap = wrap
        self.stop_order_type = stop_order_type
        self.paper = self._open_broker()
        self.broker = wrap(self.paper) if wrap else self.paper
        self.engine = OrderEngine(self.rows, self.limits, FeeSchedule("zerodha"), self.broker,
                                  emit or self.events.append, stop_order_type=stop_order_type)

    def _open_broker(self) -> PaperBroker:
        return PaperBroker(os.path.join(self.directory, "paper.jsonl"), self.rows,
                           **self.broker_options)

    def restart(self, journal, market=None, emit=None, wrap=..., resolve=True) -> None:
        """The orders process died and came back: new broker object on the same journal, new engine
        restored from `journal` (the events durably emitted before the crash). The broker is
        wrapped as before unless `wrap` says otherwise (None: the plain paper broker). `resolve`:
        settle the orders in doubt at once (False: the caller does, as the stage's recovery)."""
        self.paper.close()
        self.paper = self._open_broker()
        if wrap is not ...:
            self.wrap = wrap
        self.broker = self.wrap(self.paper) if self.wrap else self.paper
        self.events = list(journal)
        self.engine = OrderEngine(self.rows, self.limits, FeeSchedule("zerodha"), self.broker,
                                  emit or self.events.append, stop_order_type=self.stop_order_type)
        self.engine.restore(self.events, market=market)
        if resolve:
            self.engine.resolve_in_doubt()

    def run(self, tape: Tape, intents=(), start_seq: int = 1) -> None:
        self.engine.advance(tape.array(start_seq), list(intents))

    def close(self) -> None:
        self.paper.close()


class FlakyBroker:
    """Wraps a real broker; the n-th place() call (1-based) fails as scripted.

    `failures` maps n -> (when, error): when "before" the call never reaches the broker, "after" the
    broker got it and the answer was lost (a timeout after sending).
    """

    def __init__(self, inner, failures=None, refuse=None):
        self.inner = inner
        # Shared, and each entry used once: a crash scripted for "the n-th place" happens once,
        # not again in every restarted process that wraps the broker anew.
        self.failures = failures if failures is not None else {}
        self.refuse = refuse           # req -> bool: the broker refuses it (BrokerRejected)
        self.places = 0
        self.capabilities = inner.capabilities

    def place(self, req):
        self.places += 1
        when, error = self.failures.pop(self.places, (None, None))
        if when == "before":
            raise error
        if self.refuse is not None and self.refuse(req):
            from common.errors import BrokerRejected
            raise BrokerRejected(f"refused {req.order_type}", code="RMS")
        ack = self.inner.place(req)
        if when == "after":
            raise error
        return ack

    def __getattr__(self, name):
        return getattr(self.inner, name)
