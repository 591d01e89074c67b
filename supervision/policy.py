"""Restart policy: how soon to restart a stage, and when to give up (Erlang/circus intensity).

Pure and clock-injected so it is tested without sleeping: `now` is passed in by the caller.

- At most `max_restarts` restarts inside any sliding `window_s`; the next death gives up.
- The first restart in a quiet window is immediate (a crashed stage must be trading again fast);
  each further restart in the window doubles the delay from `backoff_initial_ms`, capped at
  `backoff_max_ms`, so a stage that crashes on start does not spin the CPU.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    restart: bool
    delay_s: float
    reason: str


class RestartPolicy:
    def __init__(
        self, max_restarts: int, window_s: float, backoff_initial_ms: int, backoff_max_ms: int
    ):
        if max_restarts < 0 or window_s <= 0:
            raise ValueError("max_restarts must be >= 0 and window_s > 0")
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.initial_s = backoff_initial_ms / 1000.0
        self.max_s = backoff_max_ms / 1000.0
        self._restarts: deque[float] = deque()

    def _forget_old(self, now: float) -> None:
        while self._restarts and now - self._restarts[0] > self.window_s:
            self._restarts.popleft()

    def on_death(self, now: float) -> Decision:
        """A stage died (or was killed as hung) at `now`: restart it after `delay_s`, or give up."""
        self._forget_old(now)
        recent = len(self._restarts)
        if recent >= self.max_restarts:
            return Decision(
                False,
                0.0,
                f"{recent} restarts within {self.window_s:g}s (limit {self.max_restarts})",
            )
        delay = 0.0 if recent == 0 else min(self.max_s, self.initial_s * (2 ** (recent - 1)))
        self._restarts.append(now + delay)
        return Decision(True, delay, f"restart {recent + 1} of {self.max_restarts} in window")

    @property
    def recent(self) -> int:
        return len(self._restarts)
