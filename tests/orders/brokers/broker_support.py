"""What the Kite and Upstox test accounts share: instruments, a fake wall clock, the harness
skeleton (a local server with the paper fill model and the adapters opened on it) and the fixture
teardown.

`LocalAccount` satisfies tests/orders/brokers/broker_contract.py's harness (broker, instrument,
symbol, exchange, tick_size, freeze_qty, seq, tick(price), reopen(), partial_fill_qty,
rate_limit_per_sec) once a subclass has set `server`, `settings` and `open_broker`. Its wall
clock is fake and only moves when a test moves it, so throttle and poll-interval behaviour never
depends on how fast the machine is. `account_fixtures(...)` makes a broker's two fixtures:
make_<name>(**options) builds accounts and tears every one down, failing the test if a server
failed internally or a server thread outlives it; <name> is one account with the default options.
"""

import threading

import numpy as np
import pytest

from common.dtypes import TICK_DTYPE
from tests.orders.stubs import ist_ns

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


class LocalAccount:
    """A broker account on a local server; subclasses start `self.server` and define open_broker."""

    instrument, symbol, exchange, tick_size, freeze_qty = 0, "SBIN", "NSE", 0.05, 500

    def __init__(self, *, partial_fill_qty: int = 0, rate_limit_per_sec: int = 0):
        self.partial_fill_qty = partial_fill_qty
        self.rate_limit_per_sec = rate_limit_per_sec
        self.clock = FakeClock(ist_ns(10, 0))
        self.seq = 0
        self.brokers = []

    def open_broker(self, **overrides):
        raise NotImplementedError

    def _opened(self, broker):
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

    def reopen(self):
        """The orders process restarted: a fresh adapter on the same account."""
        self.broker.close()
        self.broker = self.open_broker()
        return self.broker

    def close(self) -> None:
        for broker in self.brokers:
            broker.close()
        self.server.stop()


def server_threads(thread_name: str) -> list[str]:
    """The local server's own thread and its handler threads still alive."""
    return [t.name for t in threading.enumerate()
            if t.name == thread_name or "process_request_thread" in t.name]


def account_fixtures(name: str, account_class, thread_name: str):
    """(make_<name>, <name>) fixtures for accounts of `account_class` (built as
    account_class(directory, **options)) whose server thread is called `thread_name`."""

    @pytest.fixture(name=f"make_{name}")
    def make_accounts(tmp_path):
        made = []

        def make(**options):
            directory = tmp_path / f"{name}{len(made)}"
            directory.mkdir()
            made.append(account_class(directory, **options))
            return made[-1]

        yield make
        for account in made:
            account.close()
        errors = [e for account in made for e in account.server.internal_errors]
        assert not errors, f"local {name.capitalize()} server failed internally:\n{errors[0]}"
        assert not server_threads(thread_name), (
            f"threads left running: {server_threads(thread_name)}"
        )

    @pytest.fixture(name=name)
    def one_account(request):
        return request.getfixturevalue(f"make_{name}")()

    return make_accounts, one_account
