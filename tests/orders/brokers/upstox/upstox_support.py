"""An Upstox account for tests: a local Upstox server (paper fill model) and an UpstoxBroker on it.

`UpstoxHarness` is a tests/orders/brokers/broker_support.LocalAccount (the contract harness, a
fake wall clock). `make_upstox` tears every harness down and fails the test if a server thread
outlives it; `upstox` is one harness with the default options.
"""

from dataclasses import replace

import numpy as np

from common.dtypes import INSTRUMENT_DTYPE
from config.schema import UpstoxBrokerConfig
from localvenue.upstox.server import UpstoxLocalServer
from orders.brokers.upstox.broker import UpstoxBroker
from orders.brokers.upstox.config import UpstoxSettings
from orders.brokers.upstox.credentials import LOCAL_ACCESS_TOKEN, LOCAL_API_KEY, UpstoxCredentials
from tests.orders.brokers import broker_support
from tests.orders.brokers.broker_support import LocalAccount, account_fixtures

ROWS = np.array(broker_support.ROWS, INSTRUMENT_DTYPE)


class UpstoxHarness(LocalAccount):
    def __init__(self, directory, *, partial_fill_qty: int = 0, rate_limit_per_sec: int = 0,
                 **settings):
        super().__init__(partial_fill_qty=partial_fill_qty, rate_limit_per_sec=rate_limit_per_sec)
        self.server = UpstoxLocalServer(
            instruments=ROWS,
            paper_journal=str(directory / "paper.jsonl"),
            max_fill_qty_per_tick=partial_fill_qty,
        ).start()
        defaults = {"timeout_s": 2.0, "poll_interval_ms": 0, "api_limits": ((10_000, 1.0),)}
        if rate_limit_per_sec:
            defaults["order_limits"] = ((rate_limit_per_sec, 1.0),)
        url = self.server.url
        self.settings = UpstoxSettings.from_config(UpstoxBrokerConfig(), host=url, order_host=url,
                                                   **(defaults | settings))
        self.broker = self.open_broker()

    def open_broker(self, token: str = LOCAL_ACCESS_TOKEN, **overrides) -> UpstoxBroker:
        settings = replace(self.settings, **overrides)
        return self._opened(UpstoxBroker(ROWS, settings, UpstoxCredentials(LOCAL_API_KEY, token),
                                         clock=self.clock))


make_upstox, upstox = account_fixtures("upstox", UpstoxHarness, "upstox-local-server")
