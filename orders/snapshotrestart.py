"""A restart of the orders stage from its snapshot (orders/snapshot.py): load it into the new
engine and place the journal reader just past what it reflects, or say why not; and, after a
long tail, write the snapshot the next restart starts from.

A refused snapshot is logged with its reason and named kind (SnapshotRefused.kind) and the restart
reads the whole journal, exactly as it does when there is no snapshot at all: a snapshot only ever
saves time, it never decides what the engine holds.

Why the stage writes one itself after a long tail: the writer process runs at idle priority, and
on a saturated core it may get no CPU between two restarts. Each restart then read a longer tail
(a busy day's benchmark, restarts 3 s apart: 41,000 records, 1.2 s in one restart), because each
writer died with its stage before it wrote. The stage that has just applied that tail holds
exactly the state a writer would have built from the same records (`OrderEngine.replay`, before
restore settles anything): pickling it costs ~30 ms on a 34,000-record day, applying a tail of
LONG_TAIL records already ~80 ms, so past LONG_TAIL the stage saves it before READY, and the next
restart reads only what came after.
"""

from __future__ import annotations

import gc
import os
import pickle

import numpy as np

from common.journal import JournalReader
from common.journalpoint import point_of
from common.messages import OrderFilled
from orders.snapshot import (SNAPSHOT_FILE, Header, SnapshotRefused, capture, context_digest,
                             load, save)
from orders.snapshotprocess import FAR_BEHIND

# A tail this long (records applied after the snapshot loaded, or the whole journal) is saved as
# the new snapshot before READY: as far behind as a writer that asks for CPU then.
LONG_TAIL = FAR_BEHIND


def load_at_start(state_dir: str, config, rows: np.ndarray, engine, reader: JournalReader,
                  fills_last_seq: int, log) -> tuple[Header | None, str]:
    """(the header of the snapshot loaded or None, the kind of refusal or "") for an `engine`
    built and nothing applied yet; `reader` is then just past the snapshot (or untouched)."""
    path = os.path.join(state_dir, SNAPSHOT_FILE)
    loaded = None
    enabled = gc.isenabled()
    gc.disable()
    try:
        loaded = load(path, engine, reader, context_digest(config, rows), fills_last_seq)
    except SnapshotRefused as e:
        log.warning("orders snapshot refused: reading the whole journal", kind=e.kind,
                    reason=str(e))
        return None, e.kind
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
    return loaded, ""


def save_after_long_tail(state_dir: str, config, rows: np.ndarray, engine, reader: JournalReader,
                         tail: list, loaded: Header | None, log, *,
                         long_tail: int = LONG_TAIL) -> int:
    """After a restart applied `tail` (`engine.replay`, nothing settled yet) and `reader` stands
    just past it: write the snapshot of that state when the tail was `long_tail` records or more.
    Returns the journal seq the snapshot on disk now reflects (the loaded one's, or 0, when none
    was written). fills.jsonl must already hold every fill of the tail (the stage's recover
    completes it first): the next load refuses a snapshot ahead of it.

    A write that fails (a full disk) is logged: the next restart reads the longer tail."""
    since = loaded.journal.seq if loaded is not None else 0
    if not tail or len(tail) < long_tail:
        return since
    last_fill = next((m.seq for m in reversed(tail) if isinstance(m, OrderFilled)),
                     loaded.last_fill_seq if loaded is not None else 0)
    point = point_of(reader.path, reader.last_seq, reader.offset, reader.line_no)
    try:
        size = save(os.path.join(state_dir, SNAPSHOT_FILE), capture(engine), point, last_fill,
                    context_digest(config, rows), durable=config.journal.fsync != "never")
    except (OSError, pickle.PicklingError) as e:
        log.warning("orders snapshot not written after a long tail", records=len(tail),
                    error=repr(e))
        return since
    log.info("orders snapshot written after a long tail", records=len(tail), seq=point.seq,
             bytes=size)
    return point.seq
