"""The local Kite and Upstox venues for history tests, and a way to run `python -m feed.history`
in-process.

The venues are the real local servers (localvenue/*/server.py) with their historical-candle
routes; the downloads go through the official SDKs pointed at them with `--root`. `run_cli` passes
the local servers' fixed credentials as the Secrets a user's environment would hold, a fixed "today"
(so no day of the test's range is "not yet"), and a sleep that records backoff delays instead of
waiting.
"""

from __future__ import annotations

import datetime as dt
import os
import threading

import numpy as np
import pytest

from common.dtypes import INSTRUMENT_DTYPE
from config.secrets import Secrets
from feed.history.__main__ import main
from localvenue.kite.server import KiteLocalServer
from localvenue.upstox.server import UpstoxLocalServer
from orders.brokers.kite.credentials import (
    LOCAL_ACCESS_TOKEN as KITE_TOKEN,
    LOCAL_API_KEY as KITE_KEY,
)
from orders.brokers.upstox.credentials import LOCAL_ACCESS_TOKEN as UPSTOX_TOKEN

ROWS = np.array(
    [
        (779521, 3045, 0.05, 1, 0, 100.0, b"SBIN", b"NSE", b"NSE_EQ|INE062A01020"),
        (408065, 1594, 0.05, 1, 0, 100.0, b"INFY", b"NSE", b"NSE_EQ|INE009A01021"),
    ],
    INSTRUMENT_DTYPE,
)
TODAY = dt.date(2026, 1, 5)
KITE_SECRETS = Secrets({"KITE_API_KEY": KITE_KEY, "KITE_ACCESS_TOKEN": KITE_TOKEN})
UPSTOX_SECRETS = Secrets({"UPSTOX_ACCESS_TOKEN": UPSTOX_TOKEN})
KITE_HISTORY = "/instruments/historical/"
UPSTOX_HISTORY = "/v3/historical-candle/"


@pytest.fixture
def kite_venue(tmp_path):
    server = KiteLocalServer(
        instruments=ROWS, paper_journal=str(tmp_path / "kite-paper.jsonl")
    ).start()
    yield server
    server.stop()
    assert server.internal_errors == []
    assert not [t for t in threading.enumerate() if t.name == "kite-local-server"]


@pytest.fixture
def upstox_venue(tmp_path):
    server = UpstoxLocalServer(
        instruments=ROWS, paper_journal=str(tmp_path / "upstox-paper.jsonl")
    ).start()
    yield server
    server.stop()
    assert server.internal_errors == []


class Sleeps(list):
    """A sleep that records its delays: backoff is observable and tests never wait on it."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run_cli(argv: list[str], *, secrets=None, sleep=None) -> int:
    broker = argv[0]
    if secrets is None:
        secrets = KITE_SECRETS if broker == "kite" else UPSTOX_SECRETS
    return main(argv, secrets=secrets, today=TODAY, sleep=sleep if sleep is not None else Sleeps())


def files_under(root) -> list[str]:
    """Every file below `root`, relative, sorted (temporaries included: they must not be left)."""
    out = []
    for base, _, names in os.walk(root):
        out.extend(os.path.relpath(os.path.join(base, n), root) for n in names)
    return sorted(out)


def trading_days(first: dt.date, last: dt.date) -> list[dt.date]:
    """Weekdays of [first, last]: the days the local venue has candles for (no holidays set)."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [d for d in days if d.weekday() < 5]
