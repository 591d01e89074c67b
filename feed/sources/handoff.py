"""TickHandoff: a bounded buffer of TICK_DTYPE rows from the websocket thread to the reader of
read().

One producer (a live source's network thread, once per frame: Kite's reactor, Upstox's connection
thread) and one consumer (the feed loop). Rows are copied in and out as whole slices under one lock,
so the locking cost is per frame, never per tick, and the hand-off makes no Python object per tick.
The buffer never blocks the producer: when the consumer falls behind and the buffer is full, the
*oldest* rows are overwritten and counted in stats.extra["dropped_backlog"], so a slow consumer
still sees the current market rather than a queue of stale prices.

Nothing here knows a broker: the Kite and Upstox sources both use it.
"""

from __future__ import annotations

import threading

import numpy as np

from common.dtypes import TICK_DTYPE
from feed.sources.base import SourceStats


class TickHandoff:
    def __init__(self, capacity: int, stats: SourceStats | None = None):
        if capacity <= 0:
            raise ValueError("handoff capacity must be positive")
        self._rows = np.zeros(capacity, dtype=TICK_DTYPE)
        self._cap = capacity
        self._head = 0   # rows ever written
        self._tail = 0   # rows ever taken (or overwritten)
        self._cond = threading.Condition(threading.Lock())
        self._woken = False
        self.stats = stats if stats is not None else SourceStats()

    def __len__(self) -> int:
        with self._cond:
            return self._head - self._tail

    def put(self, rows: np.ndarray) -> None:
        """Append `rows`; never blocks. Overwrites the oldest rows when full."""
        n = len(rows)
        dropped = 0
        if n > self._cap:
            dropped, rows, n = n - self._cap, rows[n - self._cap:], self._cap
        with self._cond:
            overflow = (self._head - self._tail) + n - self._cap
            if overflow > 0:
                self._tail += overflow
                dropped += overflow
            self._copy_in(rows)
            self._head += n
            self._cond.notify()
        if dropped:
            extra = self.stats.extra
            extra["dropped_backlog"] = extra.get("dropped_backlog", 0) + dropped

    def take(self, out: np.ndarray, timeout_s: float) -> int:
        """Move up to len(out) of the oldest rows into out[:n]; wait up to `timeout_s` for the
        first.

        Returns 0 on timeout or when `wake()` was called.
        """
        with self._cond:
            if self._head == self._tail and timeout_s > 0 and not self._woken:
                self._cond.wait_for(lambda: self._head != self._tail or self._woken, timeout_s)
            self._woken = False
            n = min(len(out), self._head - self._tail)
            if n:
                self._copy_out(out, n)
                self._tail += n
            return n

    def wake(self) -> None:
        """Return a waiting take() now (the source closed or failed)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def _copy_in(self, rows: np.ndarray) -> None:
        n = len(rows)
        start = self._head % self._cap
        first = min(n, self._cap - start)
        self._rows[start:start + first] = rows[:first]
        if first < n:
            self._rows[:n - first] = rows[first:]

    def _copy_out(self, out: np.ndarray, n: int) -> None:
        start = self._tail % self._cap
        first = min(n, self._cap - start)
        out[:first] = self._rows[start:start + first]
        if first < n:
            out[first:n] = self._rows[:n - first]
