"""The shadow engine that keeps the orders snapshot (orders/snapshot.py) up to date.

It applies the orders journal read back from its file, never the live engine's state, so a
snapshot can only hold what the journal holds. It runs in a process of its own
(orders/snapshotprocess.py), which calls `step` whenever it wakes: apply the records completed
since the last step, and write a snapshot once `min_events` records and `min_interval_ns` have
passed since the last one (the first one: once `min_events` records are applied). Nothing here is
bounded by the orders loop's latency any more: a step applies everything new (`chunk` records at a
time, to bound memory) and pickles the shadow at once.

The shadow starts from the last snapshot that fits the journal (a restarted writer goes on from
there), else from the journal's first record. Any failure (a full disk, an unreadable journal)
raises out of `step`: the process exits, and the orders stage restarts it with a backoff.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from common.clock import mono_ns
from common.journal import JournalReader
from common.journalpoint import point_of
from common.messages import OrderFilled
from orders.snapshot import (
    CHUNK,
    MIN_EVENTS,
    MIN_INTERVAL_NS,
    SnapshotRefused,
    capture,
    code_digest,
    put,
    read_checked,
    save,
)

# The writer's shadow is seeded whatever fills.jsonl holds: that check protects a restart's
# completion of fills.jsonl, and the stage (not the writer) does that completion.
_ANY_FILLS = 1 << 62


class SnapshotWriter:
    """Parameters
    ----------
    path : the snapshot file. journal_path : the orders journal.
    make_engine : builds an engine like the stage's (same configuration), with a broker it never
        calls: the shadow only applies records.
    context : context_digest of that configuration.
    durable : fsync the snapshot and its directory (the journal's own fsync setting decides).
    """

    def __init__(self, path: str, journal_path: str, make_engine: Callable, context: str, *,
                 durable: bool = False, min_events: int = MIN_EVENTS,
                 min_interval_ns: int = MIN_INTERVAL_NS, chunk: int = CHUNK,
                 clock: Callable[[], int] = mono_ns):
        self.path, self.journal_path, self.context = path, journal_path, context
        self._make_engine, self._durable, self._clock = make_engine, durable, clock
        self.min_events, self.min_interval_ns, self.chunk = min_events, min_interval_ns, chunk
        self._shadow: Any = None              # an OrderEngine that only applies records
        self._reader: JournalReader | None = None
        self._last_fill_seq = 0
        self.saved_seq = 0                    # the journal seq the last snapshot reflects
        # The first snapshot is due as soon as `min_events` records are applied: a writer started
        # with a long tail behind the last snapshot writes at once, so the next restart of orders
        # reads a short one. (Waiting the interval first, a writer restarted every few seconds on a
        # busy day never wrote again, and each restart read a longer tail: 0.3 s -> 1.2 s.)
        self._saved_ns = clock() - min_interval_ns
        self.written, self.last_bytes = 0, 0
        # The digest of the code this process imported, taken now: asked first at the first
        # save, it would be of the sources on disk then, which an update may have replaced.
        code_digest()

    @property
    def applied_seq(self) -> int:
        return self._reader.last_seq if self._reader is not None else 0

    @property
    def unsaved(self) -> int:
        """Records applied since the last snapshot (the one it started from, or wrote)."""
        return self.applied_seq - self.saved_seq

    def step(self) -> bool:
        """Apply what the journal completed since the last step; write a snapshot when one is due.
        True when it wrote one.

        Raises
        ------
        OSError, OTradeError (JournalCorrupt, BusError), pickle.PicklingError
            The process exits on them and is restarted (orders/snapshotchild.py).
        """
        if self._shadow is None:
            self._start()
        while self._catch_up() == self.chunk:
            pass
        if self.applied_seq - self.saved_seq < self.min_events or \
                self._clock() - self._saved_ns < self.min_interval_ns:
            return False
        self.write()
        return True

    def write(self) -> None:
        """Snapshot the shadow as it stands (just past the last record applied)."""
        assert self._reader is not None
        r = self._reader
        point = point_of(self.journal_path, r.last_seq, r.offset, r.line_no)
        self.last_bytes = save(self.path, capture(self._shadow), point, self._last_fill_seq,
                               self.context, durable=self._durable)
        self.saved_seq, self._saved_ns = r.last_seq, self._clock()
        self.written += 1

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def _start(self) -> None:
        """The shadow, from the last snapshot that fits the journal, or empty."""
        reader = JournalReader(self.journal_path)
        shadow = self._make_engine()
        try:
            found = read_checked(self.path, self.journal_path, self.context, _ANY_FILLS)
        except SnapshotRefused:
            found = None          # the stage logged why at its start: from the first record
        if found is not None:
            header, payload = found
            try:
                put(shadow, payload)
            except SnapshotRefused:
                shadow, found = self._make_engine(), None
        if found is not None:
            p = header.journal
            reader.offset, reader.line_no, reader.last_seq = p.offset, p.line_no, p.seq
            self._last_fill_seq = header.last_fill_seq
            self.saved_seq = p.seq
            gc.freeze()           # the loaded state is long-lived: no collection walks it again
        self._shadow, self._reader = shadow, reader

    def _catch_up(self) -> int:
        """Apply up to `chunk` new journal records to the shadow; how many it applied."""
        assert self._reader is not None
        records = self._reader.poll(self.chunk)
        for msg in records:
            self._shadow._apply(msg)
            if isinstance(msg, OrderFilled):
                self._last_fill_seq = msg.seq
        return len(records)


def never_emit(msg) -> None:
    """The shadow's sink: applying journal records emits nothing; if it ever did, say so."""
    raise RuntimeError(f"the snapshot's shadow engine emitted {type(msg).__name__}")
