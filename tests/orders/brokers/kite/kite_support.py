"""A Kite account for tests: a local Kite server (paper fill model) and a KiteBroker pointed at it.

`KiteHarness` is a tests/orders/brokers/broker_support.LocalAccount (the contract harness, a fake
wall clock), with its instruments in a shared-memory InstrumentTable as the orders stage has them.
`make_kite` builds harnesses and tears every one down, failing the test if a server thread outlives
it; `kite` is one harness with the default options.
"""

from dataclasses import replace

import numpy as np

from common.dtypes import INSTRUMENT_DTYPE
from common.instruments import InstrumentTable
from config.schema import KiteBrokerConfig
from localvenue.kite.server import KiteLocalServer
from orders.brokers.kite.broker import KiteBroker
from orders.brokers.kite.config import KiteSettings
from orders.brokers.kite.credentials import LOCAL_ACCESS_TOKEN, LOCAL_API_KEY, KiteCredentials
from tests.orders.brokers.broker_support import ROWS, FakeClock, LocalAccount, account_fixtures
from tests.support import unique_segment

__all__ = ["ROWS", "FakeClock", "KiteHarness", "kite", "make_kite"]


class KiteHarness(LocalAccount):
    def __init__(self, directory, *, partial_fill_qty: int = 0, rate_limit_per_sec: int = 0,
                 **settings):
        super().__init__(partial_fill_qty=partial_fill_qty, rate_limit_per_sec=rate_limit_per_sec)
        self.table = InstrumentTable.create(
            unique_segment("kite"), np.array(ROWS, INSTRUMENT_DTYPE)
        )
        self.journal = str(directory / "kite-paper.jsonl")
        self.server = KiteLocalServer(instruments=self.table.rows, paper_journal=self.journal,
                                      max_fill_qty_per_tick=partial_fill_qty).start()
        defaults = {"timeout_s": 2.0, "poll_interval_ms": 0, "api_per_sec": 10_000}
        if rate_limit_per_sec:
            defaults["orders_per_sec"] = rate_limit_per_sec
        self.settings = KiteSettings.from_config(KiteBrokerConfig(), root=self.server.url,
                                                 **(defaults | settings))
        self.broker = self.open_broker()

    def open_broker(self, **overrides) -> KiteBroker:
        settings = replace(self.settings, **overrides)
        return self._opened(
            KiteBroker(
                self.table,
                settings,
                KiteCredentials(LOCAL_API_KEY, LOCAL_ACCESS_TOKEN),
                clock=self.clock,
            )
        )

    def close(self) -> None:
        super().close()
        self.table.close()
        self.table.unlink()


make_kite, kite = account_fixtures("kite", KiteHarness, "kite-local-server")
