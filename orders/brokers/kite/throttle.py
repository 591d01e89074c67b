"""Client-side rate limits, so OTrade never earns Kite's 429 (and the RMS block repeated 429s
bring).

Two sliding-window throttles over wall-clock time:
- placements: 10 a second, 400 a minute, 5000 an IST day (Kite's per-API-key order limits), counted
  by the engine's own `orders.throttle.Throttle` fed with wall-clock ns;
- every other request (modify, cancel, order book, trades, positions, GTT): 10 a second
  (`SecondWindow`, the last ten timestamps).

A request over a limit is NOT sent and NOT waited for: `take_*` raises BrokerRetryable("throttled")
with code "throttled". Waiting would block the orders loop for up to a second (or until tomorrow
for the day cap), and the engine already defers placements to its own throttle's next free time;
raising says exactly what happened, and since nothing was sent the outcome is known (code
"throttled" lets the engine skip the in-doubt lookup). Wall clock, not market time, because Kite
counts real seconds; the engine's own throttle (config.risk.rate_*) counts market time.
"""

import collections
import time

from common.errors import BrokerRetryable
from orders.throttle import Throttle

THROTTLED = "throttled"
SECOND_NS = 1_000_000_000


class SecondWindow:
    """At most `limit` events in any sliding one-second window (the timestamps of the last
    `limit`)."""

    def __init__(self, limit: int):
        self._limit = int(limit)
        self._times: collections.deque = collections.deque(maxlen=self._limit)

    def room(self, now_ns: int) -> int:
        recent = sum(1 for t in self._times if t > now_ns - SECOND_NS)
        return self._limit - recent

    def next_free_ns(self, now_ns: int) -> int:
        if self.room(now_ns) > 0:
            return now_ns
        return self._times[0] + SECOND_NS

    def record(self, now_ns: int) -> None:
        self._times.append(int(now_ns))


class KiteThrottle:
    """Parameters
    ----------
    settings : a KiteSettings (orders_per_sec/min/day, api_per_sec).
    clock : wall-clock ns (time.time_ns); tests pass a fake.
    """

    def __init__(self, settings, clock=time.time_ns):
        self._clock = clock
        self._orders = Throttle(settings.orders_per_sec, settings.orders_per_min,
                                settings.orders_per_day)
        self._api = SecondWindow(settings.api_per_sec)
        self.refused = 0

    def take_order(self, what: str = "place_order") -> None:
        """Count one placement now, or raise BrokerRetryable without counting it."""
        self._take(self._orders, what)

    def take_api(self, what: str) -> None:
        """Count one non-placement request now, or raise BrokerRetryable."""
        self._take(self._api, what)

    def api_room(self) -> bool:
        """True when one more non-placement request would pass (for optional polls)."""
        return self._api.room(self._clock()) > 0

    def _take(self, throttle, what: str) -> None:
        now = self._clock()
        if throttle.room(now) <= 0:
            self.refused += 1
            wait_ms = (throttle.next_free_ns(now) - now) / 1e6
            raise BrokerRetryable(
                f"kite {what}: throttled (client-side limit; free in {wait_ms:.0f} ms)",
                code=THROTTLED,
            )
        throttle.record(now)
