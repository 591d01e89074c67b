"""A blocking client-side rate limiter for history calls: at most N requests in any sliding window.

Unlike the order path's throttles (orders/brokers/*/throttle.py), which refuse a request over the
limit because the orders loop must never wait, a download has nothing better to do than wait: so
`wait()` sleeps until one more request fits every window, then counts it. The order path's limiter
cannot be imported here (stages never import each other: tests/test_layering.py); the sliding-window
rule is the same one.

`clock` (monotonic seconds) and `sleep` are injected so tests run without waiting.
"""

from __future__ import annotations

import collections
import time


class RateLimiter:
    """Parameters
    ----------
    limits : ((most requests, window seconds), ...), e.g. ((3, 1.0),) for Kite's 3 a second.
    """

    def __init__(self, limits, clock=time.monotonic, sleep=time.sleep):
        self._limits = [(int(count), float(seconds)) for count, seconds in limits]
        if not self._limits or any(c <= 0 or s <= 0 for c, s in self._limits):
            raise ValueError(f"rate limits must be positive (count, seconds) pairs, not {limits!r}")
        self._times: collections.deque = collections.deque(maxlen=max(c for c, _ in self._limits))
        self._clock, self._sleep = clock, sleep
        self.waited_s = 0.0        # total time spent waiting for room (shown in the summary)

    def next_free(self, now: float) -> float:
        """`now` when one more request fits, else when the first full window frees a place."""
        free = now
        for count, span in self._limits:
            if len(self._times) >= count and self._times[-count] > now - span:
                free = max(free, self._times[-count] + span)
        return free

    def wait(self) -> None:
        """Block until a request fits every window, then count it as sent now."""
        while True:
            now = self._clock()
            free = self.next_free(now)
            if free <= now:
                self._times.append(now)
                return
            self.waited_s += free - now
            self._sleep(free - now)
