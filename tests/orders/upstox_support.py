"""An Upstox account for tests: a local Upstox server (paper fill model) and an UpstoxBroker on it.

`UpstoxHarness` satisfies tests/orders/broker_contract.py's harness. Its wall clock is fake and moves
only when a test moves it, so throttle and poll-interval behaviour never depends on machine speed.
`make_upstox` tears every harness down and fails the test if a server thread outlives it.
"""

import threading

import numpy as np
import pytest

from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from orders.brokers.upstox.broker import UpstoxBroker
from orders.brokers.upstox.config import UpstoxSettings
from orders.brokers.upstox.credentials import LOCAL_ACCESS_TOKEN, LOCAL_API_KEY, UpstoxCredentials
from orders.brokers.upstox.localserver import UpstoxLocalServer
from tests.orders.kite_support import FakeClock
from tests.orders.stubs import ist_ns

# token, exchange_token, tick, lot, freeze, divisor, symbol, exchange, broker_key
ROWS = np.array([
    (779521, 3045, 0.05, 1, 500, 100.0, b"SBIN", b"NSE", b"NSE_EQ|INE062A01020"),
    (12345602, 48225, 0.05, 25, 1800, 100.0, b"NIFTY26MARFUT", b"NFO", b"NSE_FO|48225"),
], INSTRUMENT_DTYPE)


class UpstoxHarness:
    instrument, symbol, exchange, tick_size, freeze_qty = 0, "SBIN", "NSE", 0.05, 500

    def __init__(self, directory, *, partial_fill_qty: int = 0, rate_limit_per_sec: int = 0,
                 **settings):
        self.partial_fill_qty = partial_fill_qty
        self.rate_limit_per_sec = rate_limit_per_sec
        self.server = UpstoxLocalServer(instruments=ROWS, paper_journal=str(directory / "paper.jsonl"),
                                        max_fill_qty_per_tick=partial_fill_qty).start()
        self.clock = FakeClock(ist_ns(10, 0))
        defaults = {"timeout_s": 2.0, "poll_interval_ms": 0, "api_limits": ((10_000, 1.0),)}
        if rate_limit_per_sec:
            defaults["order_limits"] = ((rate_limit_per_sec, 1.0),)
        self.settings = UpstoxSettings(host=self.server.url, order_host=self.server.url,
                                       **(defaults | settings))
        self.seq = 0
        self.brokers = []
        self.broker = self.open_broker()

    def open_broker(self, token: str = LOCAL_ACCESS_TOKEN, **overrides) -> UpstoxBroker:
        settings = UpstoxSettings(**(self.settings.as_dict() | overrides))
        broker = UpstoxBroker(ROWS, settings, UpstoxCredentials(LOCAL_API_KEY, token), clock=self.clock)
        self.brokers.append(broker)
        return broker

    def tick(self, price: float, instrument: int = 0) -> None:
        self.seq += 1
        rows = np.zeros(1, TICK_DTYPE)
        rows["seq"], rows["price"], rows["instrument"] = self.seq, price, instrument
        rows["ts_event_ns"] = rows["ts_recv_ns"] = ist_ns(10, 0) + self.seq * 1_000_000
        self.server.on_ticks(rows)

    def reopen(self) -> UpstoxBroker:
        self.broker.close()
        self.broker = self.open_broker()
        return self.broker

    def close(self) -> None:
        for broker in self.brokers:
            broker.close()
        self.server.stop()


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name == "upstox-local-server" or "process_request_thread" in t.name]


@pytest.fixture
def make_upstox(tmp_path):
    harnesses = []

    def make(**options) -> UpstoxHarness:
        directory = tmp_path / f"upstox{len(harnesses)}"
        directory.mkdir()
        harnesses.append(UpstoxHarness(directory, **options))
        return harnesses[-1]

    yield make
    for h in harnesses:
        h.close()
    errors = [e for h in harnesses for e in h.server.internal_errors]
    assert not errors, f"local Upstox server failed internally:\n{errors[0]}"
    assert not server_threads(), f"threads left running: {server_threads()}"


@pytest.fixture
def upstox(make_upstox) -> UpstoxHarness:
    return make_upstox()
