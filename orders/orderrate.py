"""Order-rate throttle: sliding windows of one second and one minute, and the IST trading day, for
the account, plus a one-second window per exchange/segment (the retail-algo framework's threshold).

Kite allows 10 orders a second, 400 a minute and 5000 a day per account; OTrade stays under its own
configured limits (config.risk.rate_per_sec/min/day) so the broker never has to refuse with HTTP
429. On top of that, SEBI's retail-algo framework (circular of 4 Feb 2025; NSE implementation
     standards
NSE/INVG/67858 of 5 May 2025, in force for all brokers from 1 Apr 2026) lets an algo that is not
registered with the exchange send orders only below the exchange's threshold: 10 orders a second per
exchange and segment (NSE, BSE, NFO, BFO, ...). `venue_per_sec` is that threshold less the
configured safety margin (config.risk.venue_rate_per_sec), counted separately for every
exchange/segment.

Every timestamp is the MARKET clock (the ticks' ts_event_ns), never wall-clock, so a replay
throttles on exactly the same orders however fast it runs, and the counts rebuild exactly from the
journaled OrderSubmitting events after a restart.

What counts: each order placement (an OrderSubmitting), entries and exits alike. Modifications and
cancels are not counted. Entries that would exceed a window are denied by risk; exits are never
denied but wait (the engine defers them and wakes at `next_free_ns`), so a position is protected at
the first moment the broker would accept the order. Calls without a venue ("") see the account's
windows only. Imports only the standard library and `common.clock`.
"""

import bisect

from common.clock import NS_PER_S, SECONDS_PER_DAY, ist_midnight_ns

SECOND_NS = NS_PER_S
MINUTE_NS = 60 * NS_PER_S
DAY_NS = SECONDS_PER_DAY * NS_PER_S
NEVER_NS = (1 << 63) - 1


class OrderRate:
    """Parameters
    ----------
    per_sec, per_min, per_day : the most placements allowed in any 1 s window, any 60 s window and
        one IST calendar day, for the whole account.
    venue_per_sec : the most placements allowed in any 1 s window on one exchange/segment; 0 = none.
    """

    def __init__(self, per_sec: int, per_min: int, per_day: int, venue_per_sec: int = 0):
        self.limits = (int(per_sec), int(per_min), int(per_day))
        self.venue_per_sec = int(venue_per_sec)
        self._times: list[int] = []   # placement times, non-decreasing, of the current IST day
        self._venues: dict[str, list[int]] = {}   # the same, per exchange/segment

    def record(self, ts_ns: int, venue: str = "") -> None:
        """Count one placement at market time `ts_ns` on exchange/segment `venue` ("" = unknown)."""
        if self._times and ist_midnight_ns(ts_ns) > self._times[-1]:
            self._times.clear()       # a new trading day starts with a fresh day count
            self._venues.clear()
        bisect.insort_right(self._times, int(ts_ns))
        if venue:
            times = self._venues.setdefault(venue, [])
            bisect.insort_right(times, int(ts_ns))
            if len(times) > 4 * max(self.venue_per_sec, 1):
                # Only the last second is ever asked about: keep the list short.
                del times[:bisect.bisect_right(times, times[-1] - SECOND_NS)]

    def venue_count(self, now_ns: int, venue: str) -> int:
        """Placements on `venue` within the last second, as of `now_ns`."""
        times = self._venues.get(venue, ())
        return len(times) - bisect.bisect_right(times, now_ns - SECOND_NS)

    def counts(self, now_ns: int, venue: str = "") -> tuple[int, int, int]:
        """Placements within the last second, the last minute and today, as of `now_ns`.

        With a `venue`, the per-second figure is the binding one expressed against the account's
        per-second limit: max(account count, venue count + per_sec - venue_per_sec). Risk's test
        `count + n > per_sec` is then true exactly when either window would overflow, so the risk
        kernel needs no second limit.
        """
        times = self._times
        n = len(times)
        in_sec = n - bisect.bisect_right(times, now_ns - SECOND_NS)
        in_min = n - bisect.bisect_right(times, now_ns - MINUTE_NS)
        # `times` holds one IST day (record clears it on a new one): when its first placement is
        # on today, they all are, and the day count needs no search.
        day_start = ist_midnight_ns(now_ns)
        in_day = n if not n or times[0] >= day_start else n - bisect.bisect_left(times, day_start)
        if venue and self.venue_per_sec > 0:
            shifted = self.venue_count(now_ns, venue) + self.limits[0] - self.venue_per_sec
            if shifted > in_sec:
                in_sec = shifted
        return in_sec, in_min, in_day

    def room(self, now_ns: int, venue: str = "") -> int:
        """How many more placements are allowed right now (0 when any window is full)."""
        in_sec, in_min, in_day = self.counts(now_ns, venue)
        per_sec, per_min, per_day = self.limits
        left = min(per_sec - in_sec, per_min - in_min, per_day - in_day)
        return left if left > 0 else 0

    def next_free_ns(self, now_ns: int, venue: str = "") -> int:
        """The earliest market time >= now_ns at which one placement is allowed (now_ns if now)."""
        counts = self.counts(now_ns)
        free = now_ns
        for times, window_ns, limit, count in ((self._times, SECOND_NS, self.limits[0], counts[0]),
                                               (self._times, MINUTE_NS, self.limits[1], counts[1])):
            free = max(free, _frees_at(times, window_ns, limit, count))
        if venue and self.venue_per_sec > 0:
            times = self._venues.get(venue, [])
            free = max(free, _frees_at(times, SECOND_NS, self.venue_per_sec,
                                       self.venue_count(now_ns, venue)))
        if counts[2] >= self.limits[2]:
            free = max(free, ist_midnight_ns(now_ns) + DAY_NS)
        return free


def _frees_at(times: list[int], window_ns: int, limit: int, count: int) -> int:
    """When a full window frees one place: its oldest of the last `limit` entries leaves it."""
    if count < limit:
        return 0
    return times[len(times) - limit] + window_ns
