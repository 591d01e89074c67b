"""A Kite account for tests: a local Kite server (paper fill model) and a KiteBroker pointed at it.

`KiteHarness` also satisfies tests/orders/broker_contract.py's harness (broker, instrument, symbol,
exchange, tick_size, freeze_qty, seq, tick(price), reopen(), partial_fill_qty, rate_limit_per_sec).
Its wall clock is fake and only moves when a test moves it, so throttle and poll-interval behaviour
never depends on how fast the machine is. `make_kite` builds harnesses and tears every one down,
failing the test if a server thread outlives it.
"""

import threading

import numpy as np
import pytest

from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.instruments import InstrumentTable
from orders.brokers.kite.broker import KiteBroker
from orders.brokers.kite.config import KiteSettings
from orders.brokers.kite.credentials import LOCAL_ACCESS_TOKEN, LOCAL_API_KEY, KiteCredentials
from orders.brokers.kite.localserver import KiteLocalServer
from tests.orders.stubs import ist_ns
from tests.support import unique_segment

# token, exchange_token, tick, lot, freeze, divisor, symbol, exchange, broker_key
ROWS = [
    (779521, 3045, 0.05, 1, 500, 100.0, b"SBIN", b"NSE", b"NSE_EQ|INE062A01020"),
    (12345602, 48225, 0.05, 25, 1800, 100.0, b"NIFTY26MARFUT", b"NFO", b"NSE_FO|48225"),
]


class FakeClock:
    def __init__(self, start_ns: int):
        self.ns = start_ns

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)


class KiteHarness:
    instrument, symbol, exchange, tick_size, freeze_qty = 0, "SBIN", "NSE", 0.05, 500

    def __init__(self, directory, *, partial_fill_qty: int = 0, rate_limit_per_sec: int = 0,
                 **settings):
        self.partial_fill_qty = partial_fill_qty
        self.rate_limit_per_sec = rate_limit_per_sec
        self.table = InstrumentTable.create(unique_segment("kite"), np.array(ROWS, INSTRUMENT_DTYPE))
        self.journal = str(directory / "kite-paper.jsonl")
        self.server = KiteLocalServer(instruments=self.table.rows, paper_journal=self.journal,
                                      max_fill_qty_per_tick=partial_fill_qty).start()
        self.clock = FakeClock(ist_ns(10, 0))
        defaults = {"timeout_s": 2.0, "poll_interval_ms": 0, "api_per_sec": 10_000}
        if rate_limit_per_sec:
            defaults["orders_per_sec"] = rate_limit_per_sec
        self.settings = KiteSettings(root=self.server.url, **(defaults | settings))
        self.seq = 0
        self.brokers = []
        self.broker = self.open_broker()

    def open_broker(self, **overrides) -> KiteBroker:
        settings = KiteSettings(**{**_fields(self.settings), **overrides})
        broker = KiteBroker(self.table, settings, KiteCredentials(LOCAL_API_KEY, LOCAL_ACCESS_TOKEN),
                            clock=self.clock)
        self.brokers.append(broker)
        return broker

    def tick(self, price: float, instrument: int = 0) -> None:
        self.ticks([price], instrument)

    def ticks(self, prices, instrument: int = 0) -> None:
        rows = np.zeros(len(prices), TICK_DTYPE)
        for i, price in enumerate(prices):
            self.seq += 1
            rows[i]["seq"], rows[i]["price"], rows[i]["instrument"] = self.seq, price, instrument
            rows[i]["ts_event_ns"] = rows[i]["ts_recv_ns"] = ist_ns(10, 0) + self.seq * 1_000_000
        self.server.on_ticks(rows)

    def reopen(self) -> KiteBroker:
        """The orders process restarted: a fresh adapter on the same account."""
        self.broker.close()
        self.broker = self.open_broker()
        return self.broker

    def close(self) -> None:
        for broker in self.brokers:
            broker.close()
        self.server.stop()
        self.table.close()
        self.table.unlink()


def _fields(settings: KiteSettings) -> dict:
    return {name: getattr(settings, name) for name in settings.__slots__}


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name == "kite-local-server" or "process_request_thread" in t.name]


@pytest.fixture
def make_kite(tmp_path):
    harnesses = []

    def make(**options) -> KiteHarness:
        directory = tmp_path / f"kite{len(harnesses)}"
        directory.mkdir()
        harnesses.append(KiteHarness(directory, **options))
        return harnesses[-1]

    yield make
    for h in harnesses:
        h.close()
    errors = [e for h in harnesses for e in h.server.internal_errors]
    assert not errors, f"local Kite server failed internally:\n{errors[0]}"
    assert not server_threads(), f"threads left running: {server_threads()}"


@pytest.fixture
def kite(make_kite) -> KiteHarness:
    return make_kite()
