"""A single-writer, many-reader ring of fixed-size records in shared memory (the tick ring).

Glossary (the LMAX Disruptor's words):
- **ShmRing**: the storage, one shared-memory segment: header, reader table, stamps, slots. Capacity
  is a power of two and a sequence lives in slot `seq & mask`. The ring takes a numpy dtype and
  knows nothing about ticks; if the dtype has an int64 field `seq`, the writer fills it in.
- **sequence**: 1, 2, 3, ... global and monotonic. The **published cursor** (highest published
  sequence, 0 when none) is in the header, so a restarted writer continues from it
  (`RingWriter.next_seq`).
- **stamp**: one int64 per slot, the sequence the slot holds, -1 while the writer is rewriting it.
- **reader cursor**: the next sequence a reader will read. The committed cursor lives in the reader
  table in shared memory; a restarted reader re-attaches by name and resumes there (an uncommitted
  batch is read again).
- **gating reader**: in lossless mode the writer waits for the slowest gating reader instead of
  lapping it. In live mode (the default) the writer never waits: a lapped reader counts an
  **overrun**, adds the skipped sequences to **lost** and resyncs to the oldest live slot.
- **wait strategy** (common/waits.py): how a reader waits for the next sequence; a **doorbell**
  (common/doorbell.py) wakes a reader that sleeps.

Layout (int64 words; each line 64 bytes): line 0 the layout line of common/shm.py (magic, version,
dtype fingerprint, record size, capacity); line 1 writer pid; line 2 writer heartbeat
(CLOCK_MONOTONIC ns, system-wide on Linux); line 3 lossless flag; line 4 published cursor; line 5
reader-table size. Then the reader table (READER_DTYPE, two lines per reader: the reader's hot line
first, then its identity), then the stamps, then the slots.

Protocol (a seqlock per slot). Writer, per record: stamp := -1, release fence, write the record,
release fence, stamp := seq; after the batch: release fence, published := last seq, full fence, then
read the readers' asleep flags and ring only the doorbells of sleeping readers (readers that spin
cost the writer no syscall). Reader: load published, acquire fence; for each seq <= published: load
stamp (must equal seq), acquire fence, copy the record, acquire fence, load the stamp again (must
still equal seq). Anything else (-1, or a later seq) means the writer has lapped this slot: the
record is discarded, never returned. A sleeping reader sets its asleep flag, full fence, and
re-checks published before blocking: with the writer's full fence between its publish and its flag
read, one of the two always sees the other.

Memory-ordering assumption: x86-64 TSO. Aligned 8-byte loads and stores (stamps, cursors) are single
instructions, so never torn; stores become visible in program order and loads are not reordered with
other loads. The fences (common/fences.py) only stop LLVM from reordering or merging these accesses;
`fence seq_cst` (a locked instruction) covers the one reordering TSO allows, a store followed by a
load. tests/common/test_ring_stress.py checks this across real processes.
"""

import os
import time
from dataclasses import dataclass

import numpy as np
import psutil

from common.doorbell import Doorbell
from common.errors import RingError
from common.ringkernels import (  # noqa: F401 - the layout's names are the ring's (re-exported)
    _NO_LIMIT,
    HEADER_BYTES,
    LAYOUT_VERSION,
    MAGIC,
    MAX_READERS,
    R_ASLEEP,
    R_CURSOR,
    R_GATING,
    R_LAG,
    R_LOST,
    R_OVERRUNS,
    R_PID,
    R_REGISTERED,
    READER_DTYPE,
    W_FIRST_SEQ,
    W_HEARTBEAT,
    W_LOSSLESS,
    W_MAX_READERS,
    W_PUBLISHED,
    W_WRITER_PID,
    _consume,
    _free_slots,
    _publish,
    _read_one,
)
from common.shm import Layout, attach_segment, check_layout, create_segment
from common.shm import read_capacity, write_layout
from common.waits import YieldingWait, begin_sleep


def _word_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.uint64) if dtype.itemsize % 8 == 0 else np.dtype(np.uint8)


def _seq_word(dtype: np.dtype) -> int:
    """Index of the dtype's int64 `seq` field in 8-byte words, or -1 if it has none."""
    if dtype.names is None or "seq" not in dtype.names:
        return -1
    fields = dtype.fields
    assert fields is not None           # a dtype with names has fields
    field, offset = fields["seq"][:2]
    if field != np.dtype(np.int64) or offset % 8 or dtype.itemsize % 8:
        raise RingError(
            "dtype field 'seq' must be an 8-byte aligned int64 in an 8-byte multiple record"
        )
    return offset // 8


def _words_of(records: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The records as a 2-D array of machine words (no copy), as the kernels take them."""
    if not isinstance(records, np.ndarray) or records.dtype != dtype or records.ndim != 1:
        raise RingError(f"records must be a 1-D numpy array of the ring's dtype {dtype}")
    if not records.flags.c_contiguous:
        raise RingError("records must be C-contiguous")
    word = _word_dtype(dtype)
    return records.view(word).reshape(len(records), dtype.itemsize // word.itemsize)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _align(offset: int) -> int:
    return (offset + 63) // 64 * 64


@dataclass(frozen=True)
class RingHandle:
    """Everything a child process needs to attach (picklable: doorbells travel as DupFd)."""

    name: str
    dtype: np.dtype
    capacity: int
    doorbells: tuple = ()


@dataclass(frozen=True)
class ReaderInfo:
    """One row of the reader table, as the supervisor sees it."""

    slot: int
    name: str
    gating: bool
    pid: int
    cursor: int
    asleep: bool
    overruns: int
    lost: int
    lag: int



class ShmRing:
    """The ring's storage. Build it with `create` (the owner) or `attach`/`attach_name` (everyone
    else).

    Raw views for kernels, wait strategies and the supervisor: `header` (int64 words),
    `published_cell` (one int64), `table` (READER_DTYPE rows) and `table_words` (int64, 16 per row),
    `stamps`, `slots`.
    """

    def __init__(self, segment, dtype: np.dtype, capacity: int, doorbells: tuple, creator: bool):
        self._segment = segment
        self.name = segment.name
        self.dtype = np.dtype(dtype)
        self.capacity = capacity
        self.creator = creator
        self._doorbells = tuple(doorbells)
        header = np.ndarray((HEADER_BYTES // 8,), np.int64, segment.buf, 0)
        self.max_readers = int(header[W_MAX_READERS])
        stamps_at = HEADER_BYTES + self.max_readers * READER_DTYPE.itemsize
        slots_at = _align(stamps_at + 8 * self.capacity)
        if segment.size < slots_at + self.capacity * self.dtype.itemsize:
            raise RingError(
                f"segment {self.name} is {segment.size} bytes: too small for its layout"
            )
        if self._doorbells and len(self._doorbells) != self.max_readers:
            raise RingError(
                f"ring {self.name}: {len(self._doorbells)} doorbells for {self.max_readers} slots"
            )
        word = _word_dtype(self.dtype)
        self.header = header
        self.published_cell = header[W_PUBLISHED:W_PUBLISHED + 1]
        self.table = np.ndarray((self.max_readers,), READER_DTYPE, segment.buf, HEADER_BYTES)
        self.table_words = np.ndarray((self.max_readers, 16), np.int64, segment.buf, HEADER_BYTES)
        self.stamps = np.ndarray((self.capacity,), np.int64, segment.buf, stamps_at)
        self.slots = np.ndarray((self.capacity,), self.dtype, segment.buf, slots_at)
        self.slot_words = np.ndarray((self.capacity, self.dtype.itemsize // word.itemsize), word,
                                     segment.buf, slots_at)

    @classmethod
    def create(cls, name: str, capacity: int, dtype, readers=(), lossless: bool = False,
               max_readers: int = MAX_READERS, first_seq: int = 1) -> "ShmRing":
        """Create the segment; `readers` is [(name, gating), ...], all starting at `first_seq`."""
        dtype = np.dtype(dtype)
        if capacity < 2 or capacity & (capacity - 1):
            raise RingError(f"ring capacity must be a power of two >= 2, not {capacity}")
        if first_seq < 1:
            raise RingError(f"ring {name}: sequences start at 1 or later, not {first_seq}")
        if not 1 <= max_readers <= 62 or len(readers) > max_readers:
            raise RingError(f"ring {name}: {len(readers)} readers for {max_readers} slots")
        _seq_word(dtype)
        stamps_at = HEADER_BYTES + max_readers * READER_DTYPE.itemsize
        size = _align(stamps_at + 8 * capacity) + capacity * dtype.itemsize
        segment = create_segment(name, size)
        try:
            header = np.ndarray((HEADER_BYTES // 8,), np.int64, segment.buf, 0)
            header[W_LOSSLESS] = int(lossless)
            header[W_MAX_READERS] = max_readers
            header[W_FIRST_SEQ] = first_seq
            header[W_PUBLISHED] = first_seq - 1
            del header
            ring = cls(
                segment,
                dtype,
                capacity,
                tuple(Doorbell() for _ in range(max_readers)),
                creator=True,
            )
            for reader_name, gating in readers:
                ring.add_reader(reader_name, gating)
            write_layout(segment.buf, Layout(MAGIC, LAYOUT_VERSION, dtype, capacity))  # magic last
        except BaseException:
            segment.unlink()
            segment.close()
            raise
        return ring

    @classmethod
    def attach(cls, handle: RingHandle) -> "ShmRing":
        """Attach with doorbells (from a RingHandle, e.g. received in a child's start arguments)."""
        return cls._attach(handle.name, handle.dtype, handle.capacity, handle.doorbells)

    @classmethod
    def attach_name(cls, name: str, dtype) -> "ShmRing":
        """Attach by name without doorbells: BlockingWait readers then cannot be woken (and
        refuse)."""
        return cls._attach(name, dtype, None, ())

    @classmethod
    def _attach(cls, name, dtype, capacity, doorbells) -> "ShmRing":
        segment = attach_segment(name)
        try:
            found = read_capacity(segment.buf) if capacity is None else capacity
            check_layout(segment.buf, Layout(MAGIC, LAYOUT_VERSION, np.dtype(dtype), found), name)
            return cls(segment, dtype, found, doorbells, creator=False)
        except BaseException:
            segment.close()
            raise

    def handle(self) -> RingHandle:
        return RingHandle(self.name, self.dtype, self.capacity, self._doorbells)

    def doorbells(self) -> tuple:
        return self._doorbells

    def doorbell(self, slot: int):
        return self._doorbells[slot] if self._doorbells else None

    @property
    def published(self) -> int:
        return int(self.header[W_PUBLISHED])

    @property
    def first_seq(self) -> int:
        """The sequence of the ring's first record (1 unless the run resumes an account's day)."""
        return int(self.header[W_FIRST_SEQ]) or 1

    @property
    def lossless(self) -> bool:
        return bool(self.header[W_LOSSLESS])

    def set_lossless(self, lossless: bool) -> None:
        self.header[W_LOSSLESS] = int(lossless)

    @property
    def writer_pid(self) -> int:
        return int(self.header[W_WRITER_PID])

    @property
    def heartbeat_ns(self) -> int:
        """The writer's last heartbeat, time.monotonic_ns() (0 before the first writer attached)."""
        return int(self.header[W_HEARTBEAT])

    def add_reader(self, name: str, gating: bool = False) -> int:
        """Register a reader in a free slot, starting at the next sequence. Owner only, not
        concurrent."""
        if not self.creator:
            raise RingError(f"ring {self.name}: only the creator registers readers")
        encoded = name.encode()
        if not encoded or len(encoded) > READER_DTYPE["name"].itemsize:
            raise RingError(f"reader name {name!r} must be 1-40 bytes")
        if name in (info.name for info in self.readers()):
            raise RingError(f"ring {self.name}: reader {name!r} is already registered")
        free = [s for s in range(self.max_readers) if not self.table_words[s, R_REGISTERED]]
        if not free:
            raise RingError(f"ring {self.name}: all {self.max_readers} reader slots are taken")
        slot = free[0]
        self.table[slot] = (self.published + 1, 0, 0, 0, 0, 0, int(gating), 0, encoded)
        self.table_words[slot, R_REGISTERED] = 1
        return slot

    def set_gating(self, name: str, gating: bool) -> None:
        """Make a reader hold back (or stop holding back) a lossless writer, e.g. one whose pid
        died."""
        self.table_words[self.reader_slot(name), R_GATING] = int(gating)

    def reader_slot(self, name: str) -> int:
        for slot in range(self.max_readers):
            if self.table_words[slot, R_REGISTERED] and self.table["name"][slot] == name.encode():
                return slot
        known = [info.name for info in self.readers()]
        raise RingError(f"ring {self.name}: no reader named {name!r} (registered: {known})")

    def readers(self) -> list[ReaderInfo]:
        """The registered readers' rows (pid, committed cursor, overruns, ...) for the
        supervisor."""
        return [ReaderInfo(slot, row["name"].decode(), bool(row["gating"]), int(row["pid"]),
                           int(row["cursor"]), bool(row["asleep"]), int(row["overruns"]),
                           int(row["lost"]), int(row["lag"]))
                for slot, row in enumerate(self.table) if row["registered"]]

    def close(self) -> None:
        """Drop this process's views: readers and writers of this ring stop working. The owner also
        closes the doorbells. Views taken elsewhere stay valid (see common/shm.py,
        Segment.close)."""
        if self.header is None:
            return
        for attr in (
            "header",
            "published_cell",
            "table",
            "table_words",
            "stamps",
            "slots",
            "slot_words",
        ):
            setattr(self, attr, None)
        self._segment.close()
        if self.creator:
            for bell in self._doorbells:
                bell.close()

    def unlink(self) -> None:
        """Remove the segment's name (owner only); processes that have it mapped keep working."""
        if not self.creator:
            raise RingError(f"ring {self.name}: only its creator unlinks it")
        self._segment.unlink()


class RingWriter:
    """The ring's one writer. `next_seq` continues from the published cursor in shared memory."""

    def __init__(self, ring: ShmRing):
        pid = ring.writer_pid
        if pid != os.getpid() and _pid_alive(pid):
            raise RingError(f"ring {ring.name} already has a live writer (pid {pid})")
        self._ring = ring
        self._seq_word = _seq_word(ring.dtype)
        self._src: np.ndarray | None = None
        self._src_words: np.ndarray | None = None
        ring.header[W_WRITER_PID] = os.getpid()
        self.heartbeat()

    @property
    def next_seq(self) -> int:
        return self._ring.published + 1

    @property
    def written(self) -> int:
        """Records published so far by every life of the writer (next_seq counts from first_seq)."""
        return self._ring.published + 1 - self._ring.first_seq

    def heartbeat(self) -> None:
        self._ring.header[W_HEARTBEAT] = time.monotonic_ns()

    def write_batch(self, records: np.ndarray, timeout_s: float = 0.1) -> int:
        """Publish `records` (assigning their sequences); returns how many were written.

        Live mode writes them all at once. Lossless mode writes what the slowest gating reader has
        room for, then waits (yield, then short sleeps) for more room until `timeout_s`, and returns
        the count written so far: the caller heartbeats, checks its stop flag and calls again with
        the rest.
        """
        if records is not self._src:
            self._src, self._src_words = records, _words_of(records, self._ring.dtype)
        ring, total, deadline, idle = self._ring, 0, None, 0
        while True:
            written, sleepers = _publish(
                ring.header,
                ring.stamps,
                ring.slot_words,
                ring.table_words,
                self._src_words,
                total,
                len(records) - total,
                self._seq_word,
            )
            total += written
            if sleepers:
                self._ring_doorbells(sleepers)
            if total == len(records):
                return total
            now = time.monotonic()
            deadline = deadline or now + timeout_s
            if now >= deadline:
                return total
            idle = 0 if written else idle + 1
            if idle < 16:
                os.sched_yield()  # a reader is about to commit: give it the core
            else:
                time.sleep(50e-6)  # it is busy or gone: stop burning the feed's core

    def _ring_doorbells(self, sleepers: int) -> None:
        for slot in range(self._ring.max_readers):
            bell = self._ring.doorbell(slot)
            if sleepers >> slot & 1 and bell is not None:
                bell.ring()

    def close(self) -> None:
        """Give up the writer role (a new writer may attach at once)."""
        if self._ring.header is not None and self._ring.writer_pid == os.getpid():
            self._ring.header[W_WRITER_PID] = 0


class RingReader:
    """One named reader. Read batches with `read_batch`, then `commit()` once per batch."""

    def __init__(self, ring: ShmRing, name: str, wait=None):
        self.ring = ring
        self.name = name
        self._slot = ring.reader_slot(name)
        pid = int(ring.table_words[self._slot, R_PID])
        if pid != os.getpid() and _pid_alive(pid):
            raise RingError(f"ring {ring.name}: reader {name!r} is attached by live pid {pid}")
        self._wait = wait if wait is not None else YieldingWait()
        self.doorbell = ring.doorbell(self._slot)
        if self._wait.needs_doorbell and self.doorbell is None:
            raise RingError(
                f"{type(self._wait).__name__} needs doorbells: attach with ShmRing.attach(handle)"
            )
        ring.table_words[self._slot, R_PID] = os.getpid()
        ring.table_words[self._slot, R_ASLEEP] = 0
        self._cursor = int(ring.table_words[self._slot, R_CURSOR])
        self._out: np.ndarray | None = None
        self._out_words: np.ndarray | None = None

    @property
    def cursor(self) -> int:
        """The next sequence this reader will read (committed or not)."""
        return self._cursor

    @property
    def committed(self) -> int:
        return int(self.ring.table_words[self._slot, R_CURSOR])

    def available(self) -> int:
        return max(0, self.ring.published - self._cursor + 1)

    @property
    def lag(self) -> int:
        return self.available()

    @property
    def overruns(self) -> int:
        return int(self.ring.table_words[self._slot, R_OVERRUNS])

    @property
    def lost(self) -> int:
        return int(self.ring.table_words[self._slot, R_LOST])

    def wait(self, timeout_s: float) -> bool:
        """True as soon as the next sequence is published; False after `timeout_s`."""
        return self._wait.wait(self, timeout_s)

    def read_batch(self, out: np.ndarray, max_n: int | None = None) -> int:
        """Copy up to max_n (default len(out)) intact records into out[:n], in sequence order;
        returns n."""
        if out is not self._out:
            self._out, self._out_words = out, _words_of(out, self.ring.dtype)
        limit = len(out) if max_n is None else min(max_n, len(out))
        ring = self.ring
        n, self._cursor = _consume(ring.header, ring.stamps, ring.slot_words, ring.table_words,
                                   self._slot, self._cursor, self._out_words, limit)
        return n

    def commit(self) -> None:
        """Make everything read so far durable: a restarted reader resumes after it."""
        self.ring.table_words[self._slot, R_CURSOR] = self._cursor

    def read_at(self, seq: int, out_row: np.ndarray) -> bool:
        """Copy the record of `seq` into out_row[0] (a 1-row array); False if not published or
        overwritten."""
        words = _words_of(out_row, self.ring.dtype)
        ring = self.ring
        return bool(_read_one(ring.header, ring.stamps, ring.slot_words, seq, words))

    def begin_sleep(self) -> bool:
        """Flag this reader asleep; True if it may now block on `doorbell` (see common/waits.py)."""
        asleep = self.ring.table_words[self._slot, R_ASLEEP:R_ASLEEP + 1]
        return bool(begin_sleep(asleep, self.ring.published_cell, self._cursor))

    def end_sleep(self) -> None:
        self.ring.table_words[self._slot, R_ASLEEP] = 0

    def close(self) -> None:
        """Detach (the committed cursor stays); another process may attach under this name."""
        if (
            self.ring.table_words is not None
            and self.ring.table_words[self._slot, R_PID] == os.getpid()
        ):
            self.ring.table_words[self._slot, R_ASLEEP] = 0
            self.ring.table_words[self._slot, R_PID] = 0
