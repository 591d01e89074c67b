"""The Kite adapter's settings: config.broker.kite plus Kite's published limits.

Every setting's default lives in `config.schema.KiteBrokerConfig`; the limits below are facts about
Kite, not choices. `KiteSettings` has no defaults of its own: `from_config` builds it from the
section (tests/config/test_one_source_of_defaults.py fails if a default is added here).
Imports only the standard library and `common.errors`.
"""

import math
from dataclasses import dataclass, replace

from common.errors import ConfigError

# Kite's published limits per API key (reference/brokers.md §1.9): orders 10/s, 400/min, 5000/day,
# every other endpoint 10/s combined.
ORDERS_PER_SEC, ORDERS_PER_MIN, ORDERS_PER_DAY = 10, 400, 5000
API_PER_SEC = 10
VARIETY = "regular"     # Kite's order variety for plain orders (amo, co, iceberg, auction: unused)


def _paced(count: int, pace: float) -> int:
    return int(math.ceil(count * pace))


@dataclass(frozen=True, slots=True, kw_only=True)
class KiteSettings:
    """Parameters
    ----------
    root : REST root (None: the SDK's https://api.kite.trade). Only scheme://host:port counts: the
    SDK
        joins routes with urljoin, so a path prefix is discarded.
    timeout_s : per-request timeout. A placement that times out is IN DOUBT, never retried here.
    market_protection : sent on every MARKET and SL-M order; -1 lets Kite choose.
    use_gtt : offer two-leg GTT (OCO) exits (capability "gtt_oco").
    local_server : credentials are the local server's fixed ones; no secrets needed.
    poll_interval_ms : poll_events reads the order book at most this often (each poll is 1 request,
        2 when something filled), so the schema's default leaves most of the 10 req/s for orders.
    variety, orders_per_sec/min/day, api_per_sec : Kite's (VARIETY and the limits above).
    """

    root: str | None
    timeout_s: float
    market_protection: float
    use_gtt: bool
    local_server: bool
    poll_interval_ms: int
    variety: str
    orders_per_sec: int
    orders_per_min: int
    orders_per_day: int
    api_per_sec: int

    def at_pace(self, pace: float) -> "KiteSettings":
        """The per-second and per-minute limits held per market second at `pace` (a rehearsal
        replayed faster than real time: orders/brokers/live.py `rehearsal_pace`); the day's cap
        stays the day's."""
        if pace == 1.0:
            return self
        return replace(self, orders_per_sec=_paced(self.orders_per_sec, pace),
                       orders_per_min=_paced(self.orders_per_min, pace),
                       api_per_sec=_paced(self.api_per_sec, pace))

    @classmethod
    def from_config(cls, kite, **overrides) -> "KiteSettings":
        """Settings from a `config.schema.KiteBrokerConfig` section; `overrides` replace single
        fields (e.g. root=<the local server's url>, or a tighter limit in a test)."""
        settings = cls(root=kite.root, timeout_s=float(kite.timeout_s),
                       market_protection=float(kite.market_protection), use_gtt=bool(kite.use_gtt),
                       local_server=bool(kite.local_server), poll_interval_ms=kite.poll_interval_ms,
                       variety=VARIETY, orders_per_sec=ORDERS_PER_SEC,
                       orders_per_min=ORDERS_PER_MIN, orders_per_day=ORDERS_PER_DAY,
                       api_per_sec=API_PER_SEC)
        settings = replace(settings, **overrides)
        if settings.local_server and not settings.root:
            raise ConfigError("a local Kite server needs its URL in broker.kite.root",
                              path="broker.kite.root")
        return settings
