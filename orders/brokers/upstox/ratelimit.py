"""Client-side rate limits, so OTrade never earns Upstox's 429 (UDAPI10005).

Upstox counts per user per API group in real seconds (config.py has the windows): the order APIs
(place, modify, cancel) share one budget, everything else another. A request over a limit is NOT
sent and NOT waited for: `take_*` raises BrokerRetryable with code "throttled". Nothing was sent, so
the outcome is known and the engine can skip the in-doubt lookup. Wall clock, not market time.
"""

import time

from common.errors import THROTTLED, BrokerRetryable
from common.slidingwindow import SlidingWindows


class UpstoxRateLimit:
    """Parameters
    ----------
    settings : an UpstoxSettings (order_limits, api_limits).
    clock : wall-clock ns (time.time_ns); tests pass a fake.
    """

    def __init__(self, settings, clock=time.time_ns):
        self._clock = clock
        self._orders = SlidingWindows(_in_ns(settings.order_limits))
        self._api = SlidingWindows(_in_ns(settings.api_limits))
        self.refused = 0

    def take_order(self, what: str) -> None:
        """Count one order-API request (place, modify, cancel) now, or raise without counting."""
        self._take(self._orders, what)

    def take_api(self, what: str) -> None:
        """Count one other request (order book, trades, positions) now, or raise."""
        self._take(self._api, what)

    def api_room(self) -> bool:
        now = self._clock()
        return self._api.next_free(now) <= now

    def _take(self, windows: SlidingWindows, what: str) -> None:
        now = self._clock()
        free = windows.next_free(now)
        if free > now:
            self.refused += 1
            raise BrokerRetryable(f"upstox {what}: throttled (client-side limit; free in "
                                  f"{(free - now) / 1e6:.0f} ms)", code=THROTTLED)
        windows.record(now)


def _in_ns(limits) -> list[tuple[int, int]]:
    """(count, seconds) windows as (count, ns), the unit of the wall clock counted in."""
    return [(int(count), int(seconds * 1e9)) for count, seconds in limits]
