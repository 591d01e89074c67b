"""The broker contract (tests/orders/brokers/broker_contract.py) run against the paper broker."""

import os

import numpy as np
import pytest

from common.dtypes import TICK_DTYPE
from orders.brokers.paper.broker import PaperBroker
from tests.orders.brokers.broker_contract import *  # noqa: F401,F403 - the contract's test functions
from tests.orders.stubs import instruments, ist_ns


class PaperHarness:
    instrument, symbol, exchange, tick_size, freeze_qty = 0, "SYM0", "NSE", 0.05, 500

    def __init__(self, directory, partial_fill_qty=0, rate_limit_per_sec=0):
        self.path = os.path.join(directory, "paper.jsonl")
        self.rows = instruments(1, tick_size=self.tick_size, freeze_qty=self.freeze_qty)
        self.partial_fill_qty = partial_fill_qty
        self.rate_limit_per_sec = rate_limit_per_sec
        self.seq = 0
        self.broker = self._open()

    def _open(self):
        return PaperBroker(self.path, self.rows, max_fill_qty_per_tick=self.partial_fill_qty,
                           rate_per_sec=self.rate_limit_per_sec)

    def tick(self, price):
        self.seq += 1
        tick = np.zeros(1, TICK_DTYPE)
        tick["seq"], tick["ts_event_ns"], tick["price"] = self.seq, ist_ns(10, 0) + self.seq, price
        self.broker.on_ticks(tick, 0, 1)

    def reopen(self):
        self.broker.close()
        self.broker = self._open()
        return self.broker


@pytest.fixture
def broker_factory(tmp_path):
    harnesses = []

    def make(**features):
        directory = tmp_path / f"account{len(harnesses)}"
        directory.mkdir()
        harnesses.append(PaperHarness(directory, **features))
        return harnesses[-1]

    yield make
    for h in harnesses:
        h.broker.close()
