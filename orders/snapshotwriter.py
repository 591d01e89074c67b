"""Keeping the orders engine's snapshot (orders/snapshot.py) up to date, off the tick path.

The snapshot must hold only what the journal holds, so it is never taken from the live engine
(whose state also reflects ticks, plans and broker calls): a second engine in the same process, the
shadow, applies the journal's records read back from the file — the records and the function
(`_apply`) a full restart would apply — and is what gets pickled. After each commit of the stage
(its journal is then in the kernel) `after_commit` does nothing until `min_events` records and
`min_interval_ns` have passed since the last snapshot; then, one bounded step per commit: start the
shadow (from the last snapshot, unpickled for about `budget_ns` a step, or empty), apply up to
`chunk` new records, pickle pieces for about `budget_ns` (the shadow stands still meanwhile), write
the file. A failure (a full disk, an
unreadable journal) stops snapshots for the process, logged once: restarts then read more of the
journal, nothing else changes.

`open_snapshots` is the stage's start: load the snapshot into the new engine (or log why not) and
return the writer.
"""

from __future__ import annotations

import gc
import os
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from common.clock import mono_ns
from common.errors import OTradeError
from common.journal import JournalReader
from common.journalpoint import point_of
from common.messages import OrderFilled
from orders.snapshot import (
    BUDGET_NS,
    CHUNK,
    MIN_EVENTS,
    MIN_INTERVAL_NS,
    SNAPSHOT_FILE,
    Capture,
    Header,
    Loading,
    SnapshotRefused,
    context_digest,
    load,
    put_state,
    read_checked,
    save,
)


class SnapshotWriter:
    """The shadow engine that applies the journal back from its file, and writes its snapshots.

    Parameters
    ----------
    path : the snapshot file. journal_path : the orders journal.
    make_engine : builds an engine like the stage's (same configuration), with a broker it never
        calls: the shadow only applies records.
    context : context_digest of that configuration.
    loaded : the header of the snapshot the stage's restart loaded (None: none); the shadow starts
        from that snapshot again, or from the journal's first record.
    log : the stage's logger (a failure disables snapshots for this process, and says why).
    """

    def __init__(self, path: str, journal_path: str, make_engine: Callable, context: str, *,
                 loaded: Header | None, log, durable: bool = False,
                 min_events: int = MIN_EVENTS, min_interval_ns: int = MIN_INTERVAL_NS,
                 chunk: int = CHUNK, budget_ns: int = BUDGET_NS,
                 clock: Callable[[], int] = mono_ns):
        self.path, self.journal_path, self.context = path, journal_path, context
        self._make_engine, self._log, self._durable, self._clock = make_engine, log, durable, clock
        self.min_events, self.min_interval_ns, self.chunk = min_events, min_interval_ns, chunk
        self.budget_ns = budget_ns
        self._shadow: Any = None              # an OrderEngine that only applies records
        self._capture: Capture | None = None
        self._loading: tuple[Header, Loading] | None = None
        self._pos = (0, 0, 0)                 # the shadow's reader: offset, line_no, last_seq
        self._last_fill_seq = 0
        self.saved_seq = loaded.journal.seq if loaded is not None else 0
        self._saved_ns = clock()
        self.disabled = ""                    # why snapshots stopped in this process ("": none)
        self.written, self.last_bytes = 0, 0

    def after_commit(self, journal_last_seq: int, fills_last_seq: int) -> bool:
        """Called once the journal holds every event emitted so far; does one bounded piece of
        the work (apply up to `chunk` records, or pickle for about `budget_ns`); True when it
        wrote a snapshot."""
        if self.disabled:
            return False
        if self._capture is None and (journal_last_seq - self.saved_seq < self.min_events or
                                      self._clock() - self._saved_ns < self.min_interval_ns):
            return False
        try:
            return self._work(fills_last_seq)
        except (OSError, OTradeError, pickle.PicklingError, SnapshotRefused) as e:
            self.disabled = repr(e)
            self._shadow = self._capture = self._loading = None
            self._log.warning("orders snapshots disabled for this process", error=self.disabled)
            return False

    def _work(self, fills_last_seq: int) -> bool:
        if self._shadow is None:
            self._start(fills_last_seq)
            return False
        if self._capture is None:
            if not self._catch_up():
                return False
            self._capture = Capture(self._shadow)       # the shadow stands still until written
        if not self._capture.done:
            self._capture.step(self.budget_ns, self._clock)
            return False                              # the file is written at the next commit
        off, line_no, seq = self._pos
        point = point_of(self.journal_path, seq, off, line_no)
        payload, self._capture = self._capture.payload(), None
        self.last_bytes = save(self.path, payload, point, self._last_fill_seq, self.context,
                               durable=self._durable)
        self.saved_seq, self._saved_ns = seq, self._clock()
        self.written += 1
        return True

    def _start(self, fills_last_seq: int) -> None:
        """The shadow, from the last snapshot (unpickled a piece per commit) or empty."""
        if self._loading is None:
            try:
                found = read_checked(self.path, self.journal_path, self.context, fills_last_seq)
            except SnapshotRefused:
                found = None          # the stage logged why at its start: from the first record
            if found is None:
                self._shadow, self._pos, self._last_fill_seq = self._make_engine(), (0, 0, 0), 0
                return
            self._loading = (found[0], Loading(found[1]))
        header, loading = self._loading
        if not loading.step(self.budget_ns, self._clock):
            return
        shadow = self._make_engine()
        put_state(shadow, loading.state)
        p = header.journal
        self._shadow, self._loading = shadow, None
        self._pos, self._last_fill_seq = (p.offset, p.line_no, p.seq), header.last_fill_seq

    def _catch_up(self) -> bool:
        """Apply up to `chunk` new journal records to the shadow; True once at the journal's end."""
        reader = JournalReader(self.journal_path)
        try:
            reader.offset, reader.line_no, reader.last_seq = self._pos
            records = reader.poll(self.chunk)
            for msg in records:
                self._shadow._apply(msg)
                if isinstance(msg, OrderFilled):
                    self._last_fill_seq = msg.seq
            self._pos = (reader.offset, reader.line_no, reader.last_seq)
        finally:
            reader.close()
        return len(records) < self.chunk


def _never_emit(msg) -> None:
    raise RuntimeError(f"the snapshot's shadow engine emitted {type(msg).__name__}")


def open_snapshots(state_dir: str, config, rows: np.ndarray, engine, reader: JournalReader,
                   fills_last_seq: int, log) -> SnapshotWriter:
    """At a start: load the account day's snapshot into `engine` (built, nothing applied) and
    place `reader` just past what it reflects, or log why it is refused (the reader then reads the
    whole journal); returns the writer that keeps the snapshot up to date from now on."""
    from orders.engine import OrderEngine     # the engine imports nothing of this module

    path = os.path.join(state_dir, SNAPSHOT_FILE)
    context = context_digest(config, rows)
    loaded = None
    enabled = gc.isenabled()
    gc.disable()
    try:
        loaded = load(path, engine, reader, context, fills_last_seq)
    except SnapshotRefused as e:
        log.warning("orders snapshot refused: reading the whole journal", reason=str(e))
    finally:
        if loaded is not None:
            # The state just loaded is live and acyclic: into the permanent generation at once, as
            # the stage's start does with everything before READY (common/gcpolicy.py). Otherwise
            # the first young collection walks all of it: ~80 ms on a busy day's book.
            gc.freeze()
        if enabled:
            gc.enable()
    if loaded is not None:
        log.info("orders snapshot loaded", seq=loaded.journal.seq, offset=loaded.journal.offset)
    return SnapshotWriter(
        path, reader.path,
        lambda: OrderEngine.from_config(config, rows, None, _never_emit), context,
        loaded=loaded, log=log)
