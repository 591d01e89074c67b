"""The Upstox adapter's settings: config.broker.upstox plus Upstox's published limits.

Every setting's default lives in `config.schema.UpstoxBrokerConfig`; `UpstoxSettings` has no
defaults of its own (tests/config/test_one_source_of_defaults.py fails if one is added). The limits
are Upstox's per-user limits for regular (unregistered) algos (reference/brokers.md §2.4): the ORDER
APIs (place, modify, cancel, GTT) 10/s, 500/min and 2000 per 30 min together, every other API 50/s
and 500/min. Imports only the standard library and `common`.
"""

import math
from dataclasses import dataclass, fields, replace

from common.errors import ConfigError

ORDER_LIMITS = ((10, 1.0), (500, 60.0), (2000, 1800.0))     # (most requests, window seconds)
API_LIMITS = ((50, 1.0), (500, 60.0))
PRODUCT_OF = {"MIS": "I", "CNC": "D", "NRML": "D", "MTF": "MTF", "I": "I", "D": "D"}


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstoxSettings:
    """Parameters
    ----------
    host : every non-order endpoint (None: the SDK's https://api.upstox.com).
    order_host : /order/place, /order/modify, /order/cancel (None: https://api-hft.upstox.com). The
        SDK picks the host by path, so a local server must be given as BOTH.
    timeout_s : connect and read timeout of every request (the SDK's default is no timeout at all).
    use_gtt : reserved for GTT MULTIPLE exits (not offered yet: capability "gtt_oco" stays off).
    local_server : credentials are the local server's fixed ones; no secrets needed.
    market_protection : sent on MARKET and SL-M placements (-1: Upstox chooses), None: not sent.
    poll_interval_ms : poll_events reads the order book at most this often.
    order_limits, api_limits : client-side throttle windows ((count, seconds), ...): Upstox's above.
    algo_name : sent as X-Algo-Name on every order call ("" none).
    """

    host: str | None
    order_host: str | None
    timeout_s: float
    use_gtt: bool
    local_server: bool
    market_protection: int | None
    poll_interval_ms: int
    order_limits: tuple
    api_limits: tuple
    algo_name: str

    def at_pace(self, pace: float) -> "UpstoxSettings":
        """Every limit window shorter than a day held per market time at `pace` (a rehearsal
        replayed faster than real time: orders/brokers/live.py `rehearsal_pace`)."""
        if pace == 1.0:
            return self

        def scaled(limits):
            return tuple((int(math.ceil(count * pace)) if seconds < 86_400 else count, seconds)
                         for count, seconds in limits)
        return replace(self, order_limits=scaled(self.order_limits),
                       api_limits=scaled(self.api_limits))

    @classmethod
    def from_config(cls, upstox, **overrides) -> "UpstoxSettings":
        """Settings from a `config.schema.UpstoxBrokerConfig` section; `overrides` replace single
        fields."""
        settings = cls(host=upstox.host, order_host=upstox.order_host,
                       timeout_s=float(upstox.timeout_s), use_gtt=bool(upstox.use_gtt),
                       local_server=bool(upstox.local_server),
                       market_protection=upstox.market_protection,
                       poll_interval_ms=upstox.poll_interval_ms,
                       order_limits=ORDER_LIMITS, api_limits=API_LIMITS,
                       algo_name=upstox.algo_name)
        settings = replace(settings, **overrides)
        if settings.local_server and not (settings.host and settings.order_host):
            raise ConfigError("a local Upstox server needs its URL in broker.upstox.host and "
                              "broker.upstox.order_host", path="broker.upstox.host")
        if bool(settings.host) != bool(settings.order_host):
            raise ConfigError(
                "set both broker.upstox.host and broker.upstox.order_host or neither: "
                "orders would go to one server and the order book come from another",
                path="broker.upstox.order_host",
            )
        return settings

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
