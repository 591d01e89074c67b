"""At most N events in any sliding window, for several windows at once: the one rule behind every
client-side rate limit to a broker (the Kite and Upstox adapters' order and API budgets, the history
downloader's calls).

Pure bookkeeping over event times in whatever unit the caller counts (wall-clock ns for the
adapters, monotonic seconds for the downloader; times and spans in the same unit). What to do when a
window is full is the caller's: the order path refuses (its loop must never wait), a download waits.
The engine's own placement throttle (orders/orderrate.py) is a different rule: market time, an IST
day count and per-venue windows.
"""

from __future__ import annotations

import collections


class SlidingWindows:
    """Parameters
    ----------
    limits : ((most events, window span), ...), e.g. ((10, 1_000_000_000),) for ten a second in ns.
    """

    def __init__(self, limits):
        self._limits = [(int(count), span) for count, span in limits]
        if not self._limits or any(c <= 0 or s <= 0 for c, s in self._limits):
            raise ValueError(f"rate limits must be positive (count, span) pairs, not {limits!r}")
        # Only the last `most` times can ever decide a window.
        self._times: collections.deque = collections.deque(maxlen=max(c for c, _ in self._limits))

    def next_free(self, now):
        """`now` when one more event fits every window, else when the first full window frees a
        place (its oldest counted event leaves it)."""
        free = now
        times = self._times
        for count, span in self._limits:
            if len(times) >= count and times[-count] > now - span:
                free = max(free, times[-count] + span)
        return free

    def room(self, now) -> int:
        """How many more events fit every window now (0 when any is full)."""
        times = self._times
        return min(count - sum(1 for t in times if t > now - span) for count, span in self._limits)

    def record(self, now) -> None:
        """Count one event at `now` (times are recorded in order)."""
        self._times.append(now)
