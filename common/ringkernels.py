"""The tick ring's layout (header words, the reader table's row) and its compiled kernels: publish,
consume, read one, free slots. The protocol they implement, and the memory-ordering assumptions, are
described in common/ringbuffer.py, which re-exports every name here."""

import numpy as np
from numba import njit

from common.fences import fence_acquire, fence_release, fence_seq_cst
from common.shm import LAYOUT_BYTES

MAGIC = b"OTRRING"
LAYOUT_VERSION = 1
MAX_READERS = 8
HEADER_BYTES = 512
W_WRITER_PID, W_HEARTBEAT, W_LOSSLESS, W_PUBLISHED, W_MAX_READERS = 8, 16, 24, 32, 40
# The ring's first sequence. A run that resumes an account's trading day starts its ring above every
# tick sequence the day's journals hold, so the new run's ticks and intent ids never collide with
# the old run's (issue 11.1); a fresh day or a replay starts at 1.
W_FIRST_SEQ = 48
assert LAYOUT_BYTES == 64

# A reader's row: its hot line (written by that reader, read by the writer and the supervisor), then
# its identity line (written at registration and attach).
READER_DTYPE = np.dtype({
    "names": ["cursor", "asleep", "overruns", "lost", "lag", "registered", "gating", "pid", "name"],
    "formats": ["<i8", "<i8", "<i8", "<i8", "<i8", "<i8", "<i8", "<i8", "S40"],
    "offsets": [0, 8, 16, 24, 32, 64, 72, 80, 88],
    "itemsize": 128,
})
R_CURSOR, R_ASLEEP, R_OVERRUNS, R_LOST, R_LAG, R_REGISTERED, R_GATING, R_PID = (
    0,
    1,
    2,
    3,
    4,
    8,
    9,
    10,
)
_NO_LIMIT = 1 << 62


@njit(cache=True)
def _free_slots(table, capacity, published):
    """How many more sequences the writer may publish without lapping a gating reader."""
    lowest = -1
    for r in range(table.shape[0]):
        if table[r, R_REGISTERED] != 0 and table[r, R_GATING] != 0:
            if lowest < 0 or table[r, R_CURSOR] < lowest:
                lowest = table[r, R_CURSOR]
    if lowest < 0:
        return _NO_LIMIT
    return lowest - 1 + capacity - published


@njit(cache=True)
def _publish(header, stamps, slots, table, src, start, count, seq_word):
    """Write src[start:start+count] (fewer in lossless mode); returns (written, bitmask of
    sleepers)."""
    mask = stamps.shape[0] - 1
    published = header[W_PUBLISHED]
    room = count
    if header[W_LOSSLESS] != 0:
        room = min(count, max(0, _free_slots(table, stamps.shape[0], published)))
    for i in range(room):
        seq = published + 1 + i
        idx = seq & mask
        stamps[idx] = -1
        fence_release()
        for w in range(slots.shape[1]):
            slots[idx, w] = src[start + i, w]
        if seq_word >= 0:
            slots[idx, seq_word] = seq
        fence_release()
        stamps[idx] = seq
    sleepers = 0
    if room > 0:
        fence_release()
        header[W_PUBLISHED] = published + room
        fence_seq_cst()
        for r in range(table.shape[0]):
            if table[r, R_REGISTERED] != 0 and table[r, R_ASLEEP] != 0:
                sleepers |= 1 << r
    return room, sleepers


@njit(cache=True)
def _consume(header, stamps, slots, table, slot, cursor, out, max_n):
    """Copy up to max_n intact records from `cursor` on into out; returns (n, new cursor)."""
    capacity = stamps.shape[0]
    published = header[W_PUBLISHED]
    fence_acquire()
    n = 0
    lost = 0
    while n < max_n and cursor <= published:
        if cursor <= published - capacity:  # lapped: resync to the oldest live slot
            lost += published - capacity + 1 - cursor
            cursor = published - capacity + 1
        idx = cursor & (capacity - 1)
        if stamps[idx] == cursor:
            fence_acquire()
            for w in range(slots.shape[1]):
                out[n, w] = slots[idx, w]
            fence_acquire()
            if stamps[idx] == cursor:
                n += 1
                cursor += 1
                continue
        lost += 1  # overwritten under us: this sequence is gone
        cursor += 1
        published = header[W_PUBLISHED]
        fence_acquire()
    if lost > 0:
        table[slot, R_OVERRUNS] += 1
        table[slot, R_LOST] += lost
    table[slot, R_LAG] = max(0, published - cursor + 1)  # the reader's own line: free to write
    return n, cursor


@njit(cache=True)
def _read_one(header, stamps, slots, seq, out):
    """Copy the record of `seq` into out[0] if the ring still holds it intact."""
    if seq < 1 or seq > header[W_PUBLISHED]:
        return False
    fence_acquire()
    idx = seq & (stamps.shape[0] - 1)
    if stamps[idx] != seq:
        return False
    fence_acquire()
    for w in range(slots.shape[1]):
        out[0, w] = slots[idx, w]
    fence_acquire()
    return stamps[idx] == seq
