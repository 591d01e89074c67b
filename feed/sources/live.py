"""LiveSource: what the broker sources (kite/source.py, upstox/source.py) share between the socket's
thread and the feed's.

A live source decodes each message on the thread that received it (Twisted's reactor for Kite, the
connection thread for Upstox) into a scratch array, and TickHandoff copies the rows into a bounded
buffer that `read()` drains on the feed's thread. A connection that cannot go on (bad credentials,
reconnect attempts exhausted) calls `fail(error)`: read() wakes and raises that error on every call
from then on, so the feed stage exits and the supervisor decides. Counters a connection bumps with
`count(key)` all exist from open() on: dashboards see zeros, and the socket thread never adds a key
while another thread copies the dict.
"""

from __future__ import annotations

import numpy as np

from common.dtypes import TICK_DTYPE
from common.errors import StageError
from feed.sources.base import TickSource
from feed.sources.handoff import TickHandoff


def table_rows(instruments) -> np.ndarray:
    """INSTRUMENT_DTYPE rows of an InstrumentTable, or the rows themselves."""
    return instruments.rows if hasattr(instruments, "rows") else np.asarray(instruments)


class LiveSource(TickSource):
    """Base class: a subclass calls `_check_unopened()` first in open() and `_start(...)` once it
    knows its instruments, then delivers decoded rows with `_deliver(n)`."""

    def __init__(self) -> None:
        super().__init__()
        self._handoff: TickHandoff | None = None
        self._scratch = np.zeros(0, dtype=TICK_DTYPE)
        self._failure: Exception | None = None
        self._closed = False

    def _check_unopened(self) -> None:
        if self._handoff is not None:
            raise StageError(
                f"{type(self).__name__}.open() called twice; make a new source instead"
            )

    def _start(self, counters: tuple, buffer_rows: int, scratch_rows: int) -> None:
        """Zeroed counters, the hand-off buffer and a scratch array for one decoded message."""
        self.stats.extra.update({key: 0 for key in counters})
        self._handoff = TickHandoff(buffer_rows, self.stats)
        self._scratch = np.zeros(scratch_rows, TICK_DTYPE)

    def read(self, out: np.ndarray, timeout_s: float) -> int:
        if self._handoff is None:
            raise StageError(f"{type(self).__name__}.read() before open()")
        if self._failure is None:
            n = self._handoff.take(out, timeout_s)
            if n or self._failure is None:
                self.stats.received += n
                return n
        # the same error on every call, without piling tracebacks
        raise self._failure.with_traceback(None)

    # -- called on the socket's thread
    # -----------------------------------------------------------------

    def _deliver(self, n: int) -> None:
        """Hand the first n rows of the scratch array to read()."""
        if n:
            assert self._handoff is not None     # open() makes it before the socket can call here
            self._handoff.put(self._scratch[:n])

    def _wake(self) -> None:
        """read() returns now (closed, failed, or something other than ticks to forward)."""
        if self._handoff is not None:
            self._handoff.wake()

    def fail(self, error: Exception) -> None:
        """The feed cannot go on: read() raises `error` (the first one) from now on."""
        if self._failure is None:
            self._failure = error
        self._wake()

    def count(self, key: str) -> None:
        self.stats.extra[key] = self.stats.extra.get(key, 0) + 1
