"""Order-rate throttle: sliding windows of one second and one minute, and the IST trading day.

Kite allows 10 orders a second, 400 a minute and 5000 a day; OTrade stays under its own configured
limits (config.risk.rate_per_sec/min/day) so the broker never has to refuse with HTTP 429. Every
timestamp is the MARKET clock (the ticks' ts_event_ns), never wall-clock, so a replay throttles on
exactly the same orders however fast it runs, and the counts rebuild exactly from the journaled
OrderSubmitting events after a restart.

What counts: each order placement (an OrderSubmitting), entries and exits alike. Modifications and
cancels are not counted. Entries that would exceed a window are denied by risk; exits are never
denied but wait (the engine defers them and wakes at `next_free_ns`), so a position is protected at
the first moment the broker would accept the order. Imports only the standard library and
`common.clock`.
"""

import bisect

from common.clock import NS_PER_S, SECONDS_PER_DAY, ist_midnight_ns

SECOND_NS = NS_PER_S
MINUTE_NS = 60 * NS_PER_S
DAY_NS = SECONDS_PER_DAY * NS_PER_S
NEVER_NS = (1 << 63) - 1


class Throttle:
    """Parameters
    ----------
    per_sec, per_min, per_day : the most placements allowed in any 1 s window, any 60 s window and
        one IST calendar day.
    """

    def __init__(self, per_sec: int, per_min: int, per_day: int):
        self.limits = (int(per_sec), int(per_min), int(per_day))
        self._times: list[int] = []   # placement times, non-decreasing, of the current IST day

    def record(self, ts_ns: int) -> None:
        """Count one placement at market time `ts_ns`."""
        if self._times and ist_midnight_ns(ts_ns) > self._times[-1]:
            self._times.clear()       # a new trading day starts with a fresh day count
        bisect.insort_right(self._times, int(ts_ns))

    def counts(self, now_ns: int) -> tuple[int, int, int]:
        """Placements within the last second, the last minute and today, as of `now_ns`."""
        n = len(self._times)
        in_sec = n - bisect.bisect_right(self._times, now_ns - SECOND_NS)
        in_min = n - bisect.bisect_right(self._times, now_ns - MINUTE_NS)
        in_day = n - bisect.bisect_left(self._times, ist_midnight_ns(now_ns))
        return in_sec, in_min, in_day

    def room(self, now_ns: int) -> int:
        """How many more placements are allowed right now (0 when any window is full)."""
        return max(0, min(limit - count for limit, count in zip(self.limits, self.counts(now_ns))))

    def next_free_ns(self, now_ns: int) -> int:
        """The earliest market time >= now_ns at which one placement is allowed (now_ns if now)."""
        counts = self.counts(now_ns)
        free = now_ns
        times, n = self._times, len(self._times)
        for window_ns, limit, count in zip((SECOND_NS, MINUTE_NS), self.limits[:2], counts[:2]):
            if count >= limit:
                # The window frees one place when the oldest of its last `limit` entries leaves it.
                free = max(free, times[n - limit] + window_ns)
        if counts[2] >= self.limits[2]:
            free = max(free, ist_midnight_ns(now_ns) + DAY_NS)
        return free
