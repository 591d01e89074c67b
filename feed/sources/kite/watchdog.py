"""OTrade's own liveness check for a KiteTicker connection.

Kite sends a 1-byte heartbeat about once a second even when nothing trades, so an open connection
that delivers no message at all (ticks, heartbeats or text) for `timeout_s` is dead, whatever TCP
says. pykiteconnect's own ping/pong check never fires: its ping loop records a time but never sends a
ping, so no pong ever arms the check (brokers.md §0.7, pykiteconnect issue #229). A socket can stay
ESTABLISHED for hours after the far side stopped sending.

The watchdog is a pure object over an injected clock; the source calls `feed()` on every message and
polls `expired()` from a timer on the websocket thread, and drops the connection when it trips so the
SDK's reconnect (with backoff and resubscription) takes over.
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
