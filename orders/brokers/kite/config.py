"""The Kite adapter's settings: config.broker.kite plus the knobs the schema does not carry yet.

Defaults live here once. `from_config` takes the validated `config.schema.KiteBrokerConfig` section; the
extra fields (poll interval, throttle limits) keep Kite's published limits unless a test overrides
them. Imports only the standard library and `common.errors`.
"""

from dataclasses import dataclass, replace

from common.errors import ConfigError

# Kite's published limits per API key (reference/brokers.md §1.9): orders 10/s, 400/min, 5000/day,
# every other endpoint 10/s combined.
ORDERS_PER_SEC, ORDERS_PER_MIN, ORDERS_PER_DAY = 10, 400, 5000
API_PER_SEC = 10


@dataclass(frozen=True, slots=True)
class KiteSettings:
    """Parameters
    ----------
    root : REST root (None: the SDK's https://api.kite.trade). Only scheme://host:port counts: the SDK
        joins routes with urljoin, so a path prefix is discarded.
    timeout_s : per-request timeout. A placement that times out is IN DOUBT, never retried here.
    market_protection : sent on every MARKET and SL-M order; -1 lets Kite choose.
    use_gtt : offer two-leg GTT (OCO) exits (capability "gtt_oco").
    local_server : credentials are the local server's fixed ones; no secrets needed.
    poll_interval_ms : poll_events reads the order book at most this often (each poll is 1 request,
        2 when something filled), so the default leaves most of the 10 req/s for orders.
    """

    root: str | None = None
    timeout_s: float = 7.0
    market_protection: float = -1.0
    use_gtt: bool = False
    local_server: bool = False
    variety: str = "regular"
    poll_interval_ms: int = 500
    orders_per_sec: int = ORDERS_PER_SEC
    orders_per_min: int = ORDERS_PER_MIN
    orders_per_day: int = ORDERS_PER_DAY
    api_per_sec: int = API_PER_SEC

    @classmethod
    def from_config(cls, kite, **overrides) -> "KiteSettings":  # kite: config.schema.KiteBrokerConfig
        """Settings from a `config.schema.KiteBrokerConfig` section; `overrides` replace single fields
        (e.g. root=<the local server's url>)."""
        settings = cls(root=kite.root, timeout_s=float(kite.timeout_s),
                       market_protection=float(kite.market_protection), use_gtt=bool(kite.use_gtt),
                       local_server=bool(kite.local_server))
        settings = replace(settings, **overrides)
        if settings.local_server and not settings.root:
            raise ConfigError("a local Kite server needs its URL in broker.kite.root",
                              path="broker.kite.root")
        return settings
