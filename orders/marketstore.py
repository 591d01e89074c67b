"""The market state that goes with the orders stage's committed tick cursor, in shared memory.

On restart the engine needs the per-instrument last price / time / seq exactly as they were at the
ring cursor it resumes from (the tick history before that cursor may already be overwritten). Two
slots, each tagged with the cursor it belongs to; the writer fills the inactive slot, then flips the
active index with one aligned int64 store. The store is saved BEFORE the ring cursor is committed,
so its cursor is never behind the ring's, and the engine skips ticks it has already seen.

Each slot also carries the signals-journal seq through which every intent is handled: journaled in
`orders.jsonl` and written to the kernel (the stage saves after its commit). A restarted orders
re-reads `signals.jsonl` only after it, not the whole day's intents (on a busy day, 12,000 intents
decoded and dropped as redelivered: ~0.2 s of every restart).
"""

from __future__ import annotations

import numpy as np

from common.shm import RELEASED
from orders.exposure import MARKET_DTYPE

# [magic, rows, active, cursor slot 0, cursor slot 1, intents slot 0, intents slot 1, unused]
HEADER_WORDS = 8
MAGIC = 0x4F544D4B54  # "OTMKT"


def segment_bytes(n_instruments: int) -> int:
    rows = n_instruments + 1
    return HEADER_WORDS * 8 + 2 * rows * MARKET_DTYPE.itemsize


class MarketStore:
    def __init__(self, buf, n_instruments: int):
        rows = n_instruments + 1
        self.header = np.ndarray((HEADER_WORDS,), np.int64, buf, 0)
        self.slots = np.ndarray((2, rows), MARKET_DTYPE, buf, HEADER_WORDS * 8)
        if self.header[0] == 0:          # a fresh (zero-filled) segment
            self.header[1] = rows
            self.header[0] = MAGIC
        if self.header[0] != MAGIC or self.header[1] != rows:
            raise ValueError(f"market store holds {self.header[1]} rows, expected {rows}")

    def save(self, snapshot: np.ndarray, cursor: int, intents_through: int = 0) -> None:
        nxt = 1 - int(self.header[2])
        self.slots[nxt][:] = snapshot
        self.header[3 + nxt] = cursor
        self.header[5 + nxt] = intents_through
        self.header[2] = nxt             # the commit

    def load(self) -> tuple[np.ndarray | None, int]:
        """(snapshot, cursor) of the active slot, or (None, 0) before the first save."""
        active = int(self.header[2])
        cursor = int(self.header[3 + active])
        if cursor == 0:
            return None, 0
        return self.slots[active].copy(), cursor

    def intents_through(self) -> int:
        """The signals-journal seq through which every intent was handled at the active slot's
        save (0: none saved, or not known)."""
        return int(self.header[5 + int(self.header[2])])

    def release(self) -> None:
        self.header = self.slots = RELEASED
