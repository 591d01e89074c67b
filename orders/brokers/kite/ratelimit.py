"""Client-side rate limits, so OTrade never earns Kite's 429 (and the RMS block repeated 429s
bring).

Two sliding-window throttles over wall-clock time:
- placements: 10 a second, 400 a minute, 5000 an IST day (Kite's per-API-key order limits), counted
  by the engine's own `orders.orderrate.OrderRate` fed with wall-clock ns;
- every other request (modify, cancel, order book, trades, positions, GTT): 10 a second
  (common/slidingwindow.py).

A request over a limit is NOT sent and NOT waited for: `take_*` raises BrokerRetryable("throttled")
with code "throttled". Waiting would block the orders loop for up to a second (or until tomorrow
for the day cap), and the engine already defers placements to its own throttle's next free time;
raising says exactly what happened, and since nothing was sent the outcome is known (code
"throttled" lets the engine skip the in-doubt lookup). Wall clock, not market time, because Kite
counts real seconds; the engine's own throttle (config.risk.rate_*) counts market time.
"""

import time

from common.errors import THROTTLED, BrokerRetryable
from common.slidingwindow import SlidingWindows
from orders.orderrate import OrderRate

SECOND_NS = 1_000_000_000


class KiteRateLimit:
    """Parameters
    ----------
    settings : a KiteSettings (orders_per_sec/min/day, api_per_sec).
    clock : wall-clock ns (time.time_ns); tests pass a fake.
    """

    def __init__(self, settings, clock=time.time_ns):
        self._clock = clock
        self._orders = OrderRate(settings.orders_per_sec, settings.orders_per_min,
                                settings.orders_per_day)
        self._api = SlidingWindows(((settings.api_per_sec, SECOND_NS),))
        self.refused = 0

    def take_order(self, what: str = "place_order") -> None:
        """Count one placement now, or raise BrokerRetryable without counting it."""
        now = self._clock()
        if self._orders.room(now) <= 0:
            self._refuse(what, self._orders.next_free_ns(now) - now)
        self._orders.record(now)

    def take_api(self, what: str) -> None:
        """Count one non-placement request now, or raise BrokerRetryable."""
        now = self._clock()
        if self._api.room(now) <= 0:
            self._refuse(what, self._api.next_free(now) - now)
        self._api.record(now)

    def api_room(self) -> bool:
        """True when one more non-placement request would pass (for optional polls)."""
        return self._api.room(self._clock()) > 0

    def _refuse(self, what: str, wait_ns: int) -> None:
        self.refused += 1
        raise BrokerRetryable(
            f"kite {what}: throttled (client-side limit; free in {wait_ns / 1e6:.0f} ms)",
            code=THROTTLED,
        )
