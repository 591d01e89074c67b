"""The intent ring: signals → orders through shared memory, with an eventfd doorbell and the
watermark.

Storage is the tick ring's (common/ringbuffer.py: `ShmRing`, its per-slot stamps written last, its
reader table in shared memory, its doorbells), holding INTENT_RECORD_DTYPE records instead of ticks,
in lossless mode with one gating reader, `orders`: the writer never laps orders, so an intent is
never overwritten unread. A full ring makes signals wait (backpressure), it never drops an intent.

Two header words the tick ring leaves free (the last line of its 512-byte header) carry:
- W_WATERMARK, the **published tick sequence**: every tick below it has been applied by every
  strategy and each intent raised on it is already published here. Signals stores it after the
  intents it covers (release fence between); orders loads it *before* reading records, so every
  intent of a covered tick is visible to it. It replaces the TicksProcessed message.
- W_JOURNAL_BASE, the signals journal seq of the ring's first record + 1 (set once by the first
  writer of a fresh ring): with it a restarted signals finds what it journaled but had not published
  yet.

Every record carries its signals-journal seq (`journal_seq`). The journal is written and flushed
first, the record published second, so the ring never holds an intent the journal lacks, and a
signals killed between the two republishes the journal's tail when it comes back
(IntentWriter.resume).

Orders commits its reader cursor only past intents whose tick it has applied (IntentReader.commit):
the cursor lives in the ring's reader table, so a restarted orders resumes at the first intent whose
handling was not finished, and drops what it had by id, as it always did.

Wake-ups: orders blocks (only signals may spin on this machine). It flags itself asleep in its
reader row, full fence, re-checks the published cursor and the watermark, then polls the doorbell
with its sockets (common/poller.py). Signals publishes (records or watermark), full fence, reads the
flag, and rings only a sleeping orders: a spinning signals pays no syscall while orders is awake.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numba import njit

from common import ringbuffer
from common.errors import RingError
from common.fences import fence_release, fence_seq_cst
from common.ids import intent_id
from common.messages import SignalRaised
from common.ringbuffer import (
    R_ASLEEP,
    R_CURSOR,
    R_LOST,
    R_REGISTERED,
    RingReader,
    RingWriter,
    ShmRing,
)

READER = "orders"
# intents; 192 bytes each: 3 MiB, pre-faulted. At least 2 outboxes (signals/stage.py)
CAPACITY = 16384
W_WATERMARK = 56          # the last line of the tick ring's header, which it does not use
W_JOURNAL_BASE = 57       # same line: written once, by the first writer of a fresh ring
_RING_WORDS = [getattr(ringbuffer, w) for w in dir(ringbuffer) if w.startswith("W_")]
assert max(_RING_WORDS) < W_WATERMARK and W_JOURNAL_BASE < ringbuffer.HEADER_BYTES // 8, _RING_WORDS
# the record's order_type code indexes this; 0 is never valid
ORDER_TYPES = ("", "MARKET", "LIMIT")
PAGE = 4096

INTENT_RECORD_DTYPE = np.dtype([
    ("journal_seq", np.int64),   # SignalRaised.seq: the intent's seq in signals.jsonl
    ("tick_seq", np.int64),
    ("ts_event_ns", np.int64),
    ("ts_recv_ns", np.int64),
    ("ts_init_ns", np.int64),
    ("qty", np.int64),
    ("limit_price", np.float64),
    ("stop_loss", np.float64),
    ("target", np.float64),
    ("instrument", np.int32),
    ("side", np.int8),
    ("order_type", np.uint8),
    ("_pad", np.uint16),
    ("strategy", "S16"),         # config names are 1-8 characters
    ("symbol", "S32"),           # as INSTRUMENT_DTYPE's
    ("reason", "S64"),
])
assert INTENT_RECORD_DTYPE.itemsize % 64 == 0


@njit(cache=True)
def _store_watermark(header, upto):
    """Raise the published tick sequence to `upto` (never lower it); the value it now holds."""
    if upto > header[W_WATERMARK]:
        fence_release()          # the intents it covers, published before, become visible first
        header[W_WATERMARK] = upto
    return header[W_WATERMARK]


@njit(cache=True)
def _sleepers(table):
    """After a publish: the bitmask of readers flagged asleep (full fence first: store -> load)."""
    fence_seq_cst()
    mask = 0
    for r in range(table.shape[0]):
        if table[r, R_REGISTERED] != 0 and table[r, R_ASLEEP] != 0:
            mask |= 1 << r
    return mask


@njit(cache=True)
def _begin_sleep(table, slot, header, cursor, seen_watermark):
    """Flag the reader asleep, then re-check both cells: True if nothing new, so it may block."""
    table[slot, R_ASLEEP] = 1
    fence_seq_cst()
    if header[ringbuffer.W_PUBLISHED] >= cursor or header[W_WATERMARK] > seen_watermark:
        table[slot, R_ASLEEP] = 0
        return False
    return True


def create(name: str, capacity: int = CAPACITY) -> ShmRing:
    """The supervisor's part: the segment, orders registered as the gating reader, every page
    touched."""
    ring = ShmRing.create(
        name, capacity, INTENT_RECORD_DTYPE, readers=[(READER, True)], lossless=True, max_readers=1
    )
    ring.stamps[:] = 0           # writes every page now, not on the first intents of the session
    ring.slot_words[:] = 0
    return ring


def prefault(ring: ShmRing) -> int:
    """Read one word of every page of the stamps and slots: map them into this process before
    trading."""
    stamps = ring.stamps.view(np.uint8)[::PAGE]
    slots = ring.slot_words.view(np.uint8).reshape(-1)[::PAGE]
    return int(stamps.sum()) + int(slots.sum())


def check_texts(strategy_names, reasons, symbols) -> None:
    """Refuse (RingError, at start) any name or reason text a record could not carry whole."""
    for field, values in (("strategy", strategy_names), ("symbol", symbols),
                          ("reason", [text for table in reasons for text in table.values()])):
        width = INTENT_RECORD_DTYPE[field].itemsize
        for value in values:
            if len(value.encode()) > width:
                raise RingError(
                    f"intent ring: {field} {value!r} is longer than the record's {width} bytes"
                )


def record_values(msg: SignalRaised) -> tuple:
    """A journaled SignalRaised as one record's values, in INTENT_RECORD_DTYPE's field order
    (check_texts has vouched for the texts' lengths). Assigned as one tuple: numpy's per-field
    setters cost ~17 µs a record, on the hop's critical path; this ~3 µs."""
    return (
        msg.seq,
        msg.tick_seq,
        msg.ts_event_ns,
        msg.ts_recv_ns,
        msg.ts_init_ns,
        msg.qty,
        msg.limit_price,
        msg.stop_loss,
        msg.target,
        msg.instrument,
        msg.side,
        ORDER_TYPES.index(msg.order_type),
        0,
        msg.strategy.encode(),
        msg.symbol.encode(),
        msg.reason.encode(),
    )


def to_messages(rows) -> list:
    """The SignalRaised each record stands for, equal field for field to the one signals journaled.

    From `rows.tolist()` (one C call, plain tuples): numpy's per-field scalar getters cost ~20 µs an
    intent, on the hop's critical path.
    """
    return [_message(*values) for values in rows.tolist()]


def to_message(rec) -> SignalRaised:
    return _message(*rec.tolist())


def _message(
    journal_seq,
    tick_seq,
    ts_event_ns,
    ts_recv_ns,
    ts_init_ns,
    qty,
    limit_price,
    stop_loss,
    target,
    instrument,
    side,
    order_type,
    _pad,
    strategy,
    symbol,
    reason,
) -> SignalRaised:
    strategy = strategy.decode()
    return SignalRaised(
        source="signals",
        seq=journal_seq,
        ts_event_ns=ts_event_ns,
        ts_init_ns=ts_init_ns,
        intent_id=intent_id(strategy, instrument, tick_seq),
        strategy=strategy,
        instrument=instrument,
        symbol=symbol.decode(),
        side=side,
        qty=qty,
        order_type=ORDER_TYPES[order_type],
        limit_price=limit_price,
        stop_loss=stop_loss,
        target=target,
        tick_seq=tick_seq,
        ts_recv_ns=ts_recv_ns,
        reason=reason.decode(),
    )


class IntentWriter:
    """Signals' side: publish journaled intents (a backlog when the ring is full), advance the
    watermark."""

    def __init__(self, ring: ShmRing, batch: int = 256):
        self.ring = ring
        self.writer = RingWriter(ring)
        self.staging = np.zeros(batch, INTENT_RECORD_DTYPE)
        # One view per count, made once: RingWriter re-derives its word view for every new array
        # object.
        self._views = [self.staging[:k] for k in range(batch + 1)]
        self.backlog: deque = deque()        # journaled, not yet in the ring (it was full)
        self.slot = ring.reader_slot(READER)
        self._rung_upto, self._rung_ns = 0, 0

    @property
    def watermark(self) -> int:
        return int(self.ring.header[W_WATERMARK])

    def published_journal_seq(self, journal_last_seq: int) -> int:
        """The journal seq of the last intent in the ring; a fresh ring starts after
        `journal_last_seq`."""
        header = self.ring.header
        if header[W_JOURNAL_BASE] == 0:
            header[W_JOURNAL_BASE] = journal_last_seq + 1
        published = self.ring.published
        if published == 0:
            return int(header[W_JOURNAL_BASE]) - 1
        # The last published slot cannot be overwritten while we, its only writer, are not writing.
        return int(self.ring.slots[published & (self.ring.capacity - 1)]["journal_seq"])

    def resume(self, journal_last_seq: int, read_journal) -> int:
        """After a restart: queue what the journal has beyond the ring (killed between the two
        writes).

        read_journal(from_seq) yields the journal's messages from that seq on. Returns how many.
        """
        last = self.published_journal_seq(journal_last_seq)
        missing = (
            [m for m in read_journal(last + 1) if isinstance(m, SignalRaised)]
            if journal_last_seq > last
            else []
        )
        self.backlog.extend(missing)
        return len(missing)

    def publish(self, msgs) -> bool:
        """Queue journaled intents and publish as many as the ring has room for; True if all
        went."""
        self.backlog.extend(msgs)
        return self.flush()

    def flush(self) -> bool:
        """Publish the backlog, oldest first, as far as orders has made room (doorbell if it
        sleeps)."""
        backlog, staging, ring = self.backlog, self.staging, self.ring
        while backlog:
            # Room left by orders' committed cursor, checked first: a signals spinning on a full
            # ring must not re-encode records it cannot publish.
            room = ring.capacity - (ring.published + 1 - int(ring.table_words[self.slot, R_CURSOR]))
            if room <= 0:
                return False
            k = min(len(backlog), len(staging), room)
            for i in range(k):
                staging[i] = record_values(backlog[i])
            written = self.writer.write_batch(self._views[k], timeout_s=0.0)
            for _ in range(written):
                backlog.popleft()
            if written < k:
                return False
        return True

    def advance(self, upto: int, now_ns: int, force: bool, every_ns: int) -> int:
        """Publish the tick watermark `upto` (only after its intents); wake a sleeping orders at
        once when `force`, else at most every `every_ns`. Returns the watermark."""
        held = int(_store_watermark(self.ring.header, upto))
        if held > self._rung_upto and (force or now_ns - self._rung_ns >= every_ns):
            bell = self.ring.doorbell(self.slot)
            if _sleepers(self.ring.table_words) and bell is not None:
                bell.ring()
            self._rung_upto, self._rung_ns = held, now_ns
        return held

    def warm(self) -> None:
        """Load the kernels this side calls (numba's cache) before the stage reports READY; changes
        nothing."""
        _store_watermark(self.ring.header, 0)
        _sleepers(self.ring.table_words)
        self.writer.write_batch(self._views[0], timeout_s=0.0)

    def close(self) -> None:
        self.writer.close()


class IntentReader:
    """Orders' side: the records in order, the watermark, the sleep handshake, the handled-prefix
    commit.

    Duck-types what common/poller.StagePoller asks of a reader: doorbell, available,
    begin/end_sleep.
    """

    def __init__(self, ring: ShmRing, batch: int = 1024):
        self.ring = ring
        self.reader = RingReader(ring, READER)
        self.slot = ring.reader_slot(READER)
        self.doorbell = ring.doorbell(self.slot)
        if self.doorbell is None:
            raise RingError(
                f"intent ring {ring.name}: attach with its handle, orders sleeps on the doorbell"
            )
        self.buf = np.zeros(batch, INTENT_RECORD_DTYPE)
        self.seen_watermark = 0
        # (ring seq, tick seq) of records read, not yet committed
        self._unhandled: deque = deque()

    def watermark(self) -> int:
        """The published tick sequence (load it before reading records: see the module
        docstring)."""
        # A load from Python: no compiler reorders it with the record loads of the next read(), each
        # its own call into numba, and x86-64 does not reorder loads with loads (ringbuffer.py).
        value = int(self.ring.header[W_WATERMARK])
        self.seen_watermark = value
        return value

    def read(self) -> np.ndarray:
        """The next records (at most the batch size), in order: a view valid until the next read."""
        first = self.reader.cursor
        n = self.reader.read_batch(self.buf)
        rows = self.buf[:n]
        self._unhandled.extend(zip(range(first, first + n), rows["tick_seq"].tolist()))
        return rows

    def commit(self, applied_upto: int) -> int:
        """Every tick below `applied_upto` is applied (so the intents raised on them are handled):
        move the cursor in shared memory past the longest prefix of such records. Returns it."""
        unhandled = self._unhandled
        while unhandled and unhandled[0][1] < applied_upto:
            unhandled.popleft()
        cursor = unhandled[0][0] if unhandled else self.reader.cursor
        self.ring.table_words[self.slot, R_CURSOR] = cursor
        return cursor

    @property
    def committed(self) -> int:
        return int(self.ring.table_words[self.slot, R_CURSOR])

    @property
    def lost(self) -> int:
        """Records skipped as overwritten: never in a lossless ring; if ever, orders reads the
        journal."""
        return int(self.ring.table_words[self.slot, R_LOST])

    def available(self) -> int:
        return self.reader.available() + int(self.ring.header[W_WATERMARK] > self.seen_watermark)

    def begin_sleep(self) -> bool:
        return bool(
            _begin_sleep(
                self.ring.table_words,
                self.slot,
                self.ring.header,
                self.reader.cursor,
                self.seen_watermark,
            )
        )

    def end_sleep(self) -> None:
        self.ring.table_words[self.slot, R_ASLEEP] = 0

    def warm(self) -> None:
        """Load the sleep handshake's kernel before READY (flags and unflags: changes nothing)."""
        self.begin_sleep()
        self.end_sleep()

    def close(self) -> None:
        self.reader.close()
