"""A restart of the orders stage from its snapshot (orders/snapshot.py): load it into the new
engine and place the journal reader just past what it reflects, or say why not.

A refused snapshot is logged with its reason and named kind (SnapshotRefused.kind) and the restart
reads the whole journal, exactly as it does when there is no snapshot at all: a snapshot only ever
saves time, it never decides what the engine holds.
"""

from __future__ import annotations

import gc
import os

import numpy as np

from common.journal import JournalReader
from orders.snapshot import SNAPSHOT_FILE, Header, SnapshotRefused, context_digest, load


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
