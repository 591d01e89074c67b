"""Reconnect delays for the Upstox connection: exponential, capped, jittered, reset by a working
feed.

A pure object (no clock, no sleeping): the connection asks `next_delay_s()` before each attempt and
waits that long on its stop event, so close() interrupts a wait at once. The first attempt after a
reset goes at once; the n-th consecutive failure waits about `initial_s * 2**(n-1)`, capped at
`max_s`. Half of each delay is random ("equal jitter") so that many feeds cut off at once do not
hammer the authorize endpoint in lockstep. `reset()` is called when a connection delivered data, not
merely when it opened: a server that accepts and then drops every connection still backs off.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial_s: float, max_s: float, max_attempts: int = 0, rng=random.random):
        """`max_attempts` consecutive failed attempts exhaust it (0: never)."""
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")
        self.initial_s, self.max_s, self.max_attempts = initial_s, max_s, max_attempts
        self._rng = rng
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def failed(self) -> None:
        self.failures += 1

    @property
    def exhausted(self) -> bool:
        return self.max_attempts > 0 and self.failures >= self.max_attempts

    def next_delay_s(self) -> float:
        if self.failures == 0:
            return 0.0
        # 2**60 already dwarfs any cap; bounding the exponent keeps the float finite.
        full = min(self.max_s, self.initial_s * 2.0 ** min(self.failures - 1, 60))
        return full / 2.0 + self._rng() * full / 2.0
