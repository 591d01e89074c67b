"""OTrade's own liveness check for a live feed connection (Kite, Upstox).

A socket can stay ESTABLISHED for hours after the far side stopped sending, so a connection that
delivers nothing at all for `timeout_s` is treated as dead, whatever TCP says. What counts as
"something" is the source's choice, made where it calls `feed()`:

- Kite sends a 1-byte heartbeat about once a second even when nothing trades, so every message
  counts. pykiteconnect's own ping/pong check never fires (its ping loop never sends a ping;
  brokers.md §0.7, pykiteconnect issue #229).
- Upstox has no application heartbeat, only websocket pings when idle, so its source counts pings as
  well as data (a data-only watchdog false-fires in a quiet market, brokers.md §2.6).

The watchdog is a pure object over an injected clock: the source calls `feed()` on every message,
`arm()` when a connection opens, and polls `expired()`; when it trips the source drops the
connection so its reconnect (with backoff and resubscription) takes over.
"""

from __future__ import annotations

import time


class Watchdog:
    def __init__(self, timeout_s: float, clock=time.monotonic):
        if timeout_s <= 0:
            raise ValueError("watchdog timeout must be positive")
        self.timeout_s = timeout_s
        self._clock = clock
        self._armed = False
        self._last = 0.0
        self.trips = 0

    def arm(self) -> None:
        """The connection opened: silence counts from now."""
        self._armed = True
        self._last = self._clock()

    def disarm(self) -> None:
        """The connection closed: nothing to watch until it opens again."""
        self._armed = False

    def feed(self) -> None:
        """A message arrived."""
        self._last = self._clock()

    @property
    def armed(self) -> bool:
        return self._armed

    def silence_s(self) -> float:
        return self._clock() - self._last if self._armed else 0.0

    def expired(self) -> bool:
        """True once per silent spell: a trip disarms the watchdog until the next `arm()`."""
        if not self._armed or self._clock() - self._last < self.timeout_s:
            return False
        self._armed = False
        self.trips += 1
        return True

    def poll_interval_s(self) -> float:
        """How often to call `expired()` so a trip comes at most a quarter timeout late."""
        return min(self.timeout_s / 4.0, 0.5)
