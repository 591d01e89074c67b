"""A blocking client-side rate limiter for history calls: at most N requests in any sliding window.

Unlike the order path's throttles (orders/brokers/*/ratelimit.py), which refuse a request over the
limit because the orders loop must never wait, a download has nothing better to do than wait: so
`wait()` sleeps until one more request fits every window, then counts it. The sliding-window rule is
the one they share (common/slidingwindow.py).

`clock` (monotonic seconds) and `sleep` are injected so tests run without waiting.
"""

from __future__ import annotations

import time

from common.slidingwindow import SlidingWindows


class RateLimiter:
    """Parameters
    ----------
    limits : ((most requests, window seconds), ...), e.g. ((3, 1.0),) for Kite's 3 a second.
    """

    def __init__(self, limits, clock=time.monotonic, sleep=time.sleep):
        self._windows = SlidingWindows([(count, float(seconds)) for count, seconds in limits])
        self._clock, self._sleep = clock, sleep
        self.waited_s = 0.0        # total time spent waiting for room (shown in the summary)

    def next_free(self, now: float) -> float:
        """`now` when one more request fits, else when the first full window frees a place."""
        return self._windows.next_free(now)

    def wait(self) -> None:
        """Block until a request fits every window, then count it as sent now."""
        while True:
            now = self._clock()
            free = self.next_free(now)
            if free <= now:
                self._windows.record(now)
                return
            self.waited_s += free - now
            self._sleep(free - now)
