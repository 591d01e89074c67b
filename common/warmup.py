"""Preloaded by the supervisor's forkserver: load the kernels of `common` from numba's cache once.

Every stage forked afterwards has them compiled in memory, so no stage JIT-compiles while it trades
(a first-call compile takes seconds on a busy machine: long enough to look like a hang, issue 12.9).
Importing a kernel's module is not enough: numba compiles (or loads its cache) on the first *call*
with given argument types, so each kernel is called here through the same public API, with the same
array types, as the stages use: the tick ring's writer and readers (publish, consume, read_at, the
sleep handshake, the spin wait), the intent ring's and the latency histograms. Must never raise: the
error is kept in WARM_ERROR and the kernels then compile on first use.
"""

from __future__ import annotations

import mmap

import numpy as np

WARM_ERROR = ""


class _PrivateSegment:
    """A ShmRing-shaped segment in anonymous memory: same array types as /dev/shm, nothing to
    unlink."""

    def __init__(self, size: int):
        self.name = "otrade_warmup"
        self._map = mmap.mmap(-1, size)
        self.buf = memoryview(self._map)
        self.size = size


def warm_ring(dtype) -> None:
    """Publish, consume, read back and sleep-handshake once on a private ring of `dtype` records."""
    from common import ringbuffer as rb
    from common.waits import YieldingWait

    dtype = np.dtype(dtype)
    capacity = 4
    stamps_at = rb.HEADER_BYTES + rb.MAX_READERS * rb.READER_DTYPE.itemsize
    segment = _PrivateSegment(rb._align(stamps_at + 8 * capacity) + capacity * dtype.itemsize)
    header = np.ndarray((rb.HEADER_BYTES // 8,), np.int64, segment.buf, 0)
    header[rb.W_MAX_READERS] = rb.MAX_READERS
    header[rb.W_LOSSLESS] = 1            # lossless: _publish also runs its _free_slots branch
    del header
    ring = rb.ShmRing(segment, dtype, capacity, doorbells=(), creator=True)
    ring.add_reader("warm", gating=True)
    writer = rb.RingWriter(ring)
    reader = rb.RingReader(ring, "warm", wait=YieldingWait())
    reader.begin_sleep()                 # nothing published yet: the "may block" path
    reader.end_sleep()
    reader.wait(0.0)
    writer.write_batch(np.zeros(2, dtype), timeout_s=0.0)
    out = np.zeros(2, dtype)
    reader.read_batch(out)
    reader.commit()
    reader.read_at(1, out[:1])
    reader.begin_sleep()
    reader.end_sleep()
    writer.close()


def warm_intent_ring() -> None:
    """The intent ring (common/intentring.py): its records through the ring's kernels, and the
    watermark and sleep-handshake kernels signals and orders call from Python. Without this each of
    them loaded these from numba's cache in its start-up (~25 ms each, measured), every restart.
    """
    from common import intentring
    from common import ringbuffer as rb

    warm_ring(intentring.INTENT_RECORD_DTYPE)
    header = np.zeros(rb.HEADER_BYTES // 8, np.int64)   # the ring's header and reader table types
    table = np.zeros((1, 16), np.int64)
    intentring._store_watermark(header, 0)
    intentring._sleepers(table)
    intentring._begin_sleep(table, 0, header, 1, 0)


def _warm_all() -> None:
    global WARM_ERROR
    try:
        from common import latency
        from common.dtypes import TICK_DTYPE

        latency.warm()
        warm_ring(TICK_DTYPE)
        warm_intent_ring()
    except Exception as e:  # noqa: BLE001 - a failure here must not take the forkserver down
        WARM_ERROR = f"{type(e).__name__}: {e}"


_warm_all()
