"""The ring in one process: protocol, overruns, lossless mode, restarts, layout checks, waits.

These also pass with NUMBA_DISABLE_JIT=1 (the kernels then run as Python). Cross-process behaviour
is in test_ring_stress.py.
"""

import os

import numpy as np
import pytest
import zmq

from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.errors import RingError
from common.instruments import InstrumentTable
from common.ringbuffer import W_WRITER_PID, RingHandle, RingReader, RingWriter, ShmRing
from common.waits import BlockingWait, BusySpinWait, YieldingWait
from tests.support import bad_ticks, make_ticks, unique_segment


@pytest.fixture
def make_ring():
    made = []

    def make(capacity=16, dtype=TICK_DTYPE, readers=(("a", True),), **kwargs):
        ring = ShmRing.create(unique_segment("ring"), capacity, dtype, readers=readers, **kwargs)
        made.append(ring)
        return ring

    yield make
    for ring in made:
        ring.close()
        ring.unlink()


def write(writer, first, n, timeout_s=0.0):
    return writer.write_batch(make_ticks(np.arange(first, first + n)), timeout_s=timeout_s)


def read_all(reader, max_n=64):
    out = np.zeros(max_n, TICK_DTYPE)
    n = reader.read_batch(out)
    return out[:n].copy()


def test_writer_assigns_sequences_from_one_and_reader_gets_them_intact_in_order(make_ring):
    ring = make_ring()
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    assert writer.next_seq == 1
    assert write(writer, 1, 10) == 10
    got = read_all(reader)
    assert list(got["seq"]) == list(range(1, 11))
    assert bad_ticks(got) == 0
    assert ring.published == 10 and writer.next_seq == 11


def test_read_batch_returns_nothing_until_published_and_honours_max_n(make_ring):
    ring = make_ring()
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    out = np.zeros(8, TICK_DTYPE)
    assert reader.read_batch(out) == 0 and reader.available() == 0
    write(writer, 1, 5)
    assert reader.available() == 5
    assert reader.read_batch(out, max_n=2) == 2
    assert reader.read_batch(out) == 3 and list(out["seq"][:3]) == [3, 4, 5]
    assert reader.cursor == 6 and reader.available() == 0


def test_lapped_reader_counts_overrun_and_resyncs_to_oldest_live_slot(make_ring):
    ring = make_ring(capacity=16)
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    write(writer, 1, 40)
    got = read_all(reader)
    assert list(got["seq"]) == list(range(25, 41))  # 40 - 16 + 1 is the oldest slot still live
    assert bad_ticks(got) == 0
    assert reader.overruns == 1 and reader.lost == 24


def test_reader_discards_slot_the_writer_is_rewriting_and_skips_to_the_next(make_ring):
    ring = make_ring(capacity=16)
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    write(writer, 1, 8)
    ring.stamps[3 & 15] = -1  # the writer is mid-way through rewriting seq 3's slot
    ring.stamps[5 & 15] = 21  # and has already replaced seq 5 with seq 21
    got = read_all(reader)
    assert list(got["seq"]) == [1, 2, 4, 6, 7, 8]
    assert bad_ticks(got) == 0
    assert reader.lost == 2 and reader.overruns == 1


def test_read_at_returns_a_recent_record_and_refuses_overwritten_or_future_ones(make_ring):
    ring = make_ring(capacity=16)
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    write(writer, 1, 20)
    row = np.zeros(1, TICK_DTYPE)
    assert reader.read_at(18, row) and row["seq"][0] == 18 and bad_ticks(row) == 0
    assert not reader.read_at(4, row)  # overwritten by 20
    assert not reader.read_at(21, row)
    assert not reader.read_at(0, row)
    assert reader.cursor == 1  # random access does not move the cursor


def test_lossless_writer_stops_at_slowest_gating_reader_and_returns_after_timeout(make_ring):
    ring = make_ring(capacity=16, readers=(("slow", True), ("fast", True), ("ignored", False)),
                     lossless=True)
    writer = RingWriter(ring)
    slow, fast = RingReader(ring, "slow"), RingReader(ring, "fast")
    assert write(writer, 1, 40, timeout_s=0.01) == 16  # "ignored" never reads: it does not gate
    assert read_all(slow)["seq"][-1] == 16
    slow.commit()
    assert read_all(fast)["seq"][-1] == 16
    assert write(writer, 17, 24, timeout_s=0.01) == 0  # "fast" has read but not committed
    fast.commit()
    assert write(writer, 17, 24, timeout_s=0.01) == 16
    assert slow.lost == 0 and fast.lost == 0


def test_lossless_mode_can_be_switched_off_for_live_trading(make_ring):
    ring = make_ring(capacity=16, lossless=True)
    writer = RingWriter(ring)
    assert write(writer, 1, 20, timeout_s=0.0) == 16
    ring.set_lossless(False)
    assert not ring.lossless
    assert write(writer, 17, 20) == 20


def test_ungating_a_dead_reader_releases_a_lossless_writer(make_ring):
    ring = make_ring(capacity=16, readers=(("dead", True),), lossless=True)
    writer = RingWriter(ring)
    assert write(writer, 1, 20) == 16
    ring.set_gating("dead", False)
    assert write(writer, 17, 4) == 4


def test_restarted_writer_continues_from_the_published_cursor(make_ring):
    ring = make_ring()
    first = RingWriter(ring)
    write(first, 1, 7)
    first.close()
    attached = ShmRing.attach(ring.handle())
    second = RingWriter(attached)
    assert second.next_seq == 8
    write(second, 8, 2)
    assert list(read_all(RingReader(ring, "a"))["seq"]) == list(range(1, 10))
    second.close()
    attached.close()


def test_reattached_reader_resumes_at_committed_cursor_and_rereads_the_uncommitted_batch(make_ring):
    ring = make_ring()
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    write(writer, 1, 10)
    reader.read_batch(np.zeros(4, TICK_DTYPE))
    reader.commit()
    reader.read_batch(np.zeros(3, TICK_DTYPE))  # read 5..7, then "crash" before commit
    assert reader.committed == 5
    restarted = RingReader(ShmRing.attach(ring.handle()), "a")
    assert restarted.cursor == 5
    assert list(read_all(restarted)["seq"]) == [5, 6, 7, 8, 9, 10]
    restarted.ring.close()


def test_reader_table_shows_pid_cursor_and_lag_for_the_supervisor(make_ring):
    ring = make_ring(readers=(("signals", True), ("positions", False)))
    writer, reader = RingWriter(ring), RingReader(ring, "signals")
    write(writer, 1, 6)
    reader.read_batch(np.zeros(4, TICK_DTYPE))
    reader.commit()
    signals, positions = ring.readers()
    assert (signals.name, signals.gating, signals.pid) == ("signals", True, os.getpid())
    assert (signals.cursor, signals.lag) == (5, 2)
    assert (positions.name, positions.gating, positions.pid, positions.cursor) == (
        "positions",
        False,
        0,
        1,
    )
    assert ring.writer_pid == os.getpid() and ring.heartbeat_ns > 0


def test_unknown_reader_name_is_refused(make_ring):
    ring = make_ring()
    with pytest.raises(RingError, match="no reader named 'orders'"):
        RingReader(ring, "orders")


def test_a_reader_name_held_by_a_live_process_is_refused(make_ring):
    ring = make_ring()
    ring.table["pid"][ring.reader_slot("a")] = os.getppid()
    with pytest.raises(RingError, match="live pid"):
        RingReader(ring, "a")


def test_a_second_live_writer_is_refused(make_ring):
    ring = make_ring()
    ring.header[W_WRITER_PID] = os.getppid()  # claimed by another live process
    with pytest.raises(RingError, match="live writer"):
        RingWriter(ring)


def test_ring_is_generic_over_its_dtype(make_ring):
    dtype = np.dtype([("a", "<i4"), ("b", "<u2"), ("c", "S6")])  # 12 bytes, no seq field
    ring = make_ring(dtype=dtype)
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    records = np.array([(i, i * 2, b"x%d" % i) for i in range(5)], dtype)
    assert writer.write_batch(records) == 5
    out = np.zeros(8, dtype)
    assert reader.read_batch(out) == 5
    assert (out[:5] == records).all()


def test_wrong_record_array_is_refused(make_ring):
    ring = make_ring()
    with pytest.raises(RingError, match="dtype"):
        RingWriter(ring).write_batch(np.zeros(3, INSTRUMENT_DTYPE))


@pytest.mark.parametrize("capacity", [0, 3, 12])
def test_create_refuses_capacity_that_is_not_a_power_of_two(capacity):
    with pytest.raises(RingError, match="power of two"):
        ShmRing.create(unique_segment("ring"), capacity, TICK_DTYPE)


def test_attach_refuses_another_dtype(make_ring):
    ring = make_ring()
    other = np.dtype([("seq", "<i8"), ("price", "<f8")] + [(f"pad{i}", "<i8") for i in range(6)])
    with pytest.raises(RingError, match="dtype fingerprint"):
        ShmRing.attach_name(ring.name, other)


def test_attach_refuses_another_capacity(make_ring):
    ring = make_ring(capacity=16)
    handle = ring.handle()
    with pytest.raises(RingError, match="capacity 16 != expected 32"):
        ShmRing.attach(RingHandle(handle.name, handle.dtype, 32, handle.doorbells))


def test_attach_refuses_another_layout_version(make_ring):
    ring = make_ring()
    ring.header[1] = 99
    with pytest.raises(RingError, match="layout version 99 != expected 1"):
        ShmRing.attach_name(ring.name, TICK_DTYPE)


def test_attach_refuses_a_segment_that_is_not_a_ring():
    table = InstrumentTable.create(unique_segment("instruments"), [])
    try:
        with pytest.raises(RingError, match="another kind of segment"):
            ShmRing.attach_name(table.name, TICK_DTYPE)
    finally:
        table.close()
        table.unlink()


def test_attach_refuses_a_missing_segment():
    with pytest.raises(RingError, match="does not exist"):
        ShmRing.attach_name(unique_segment("nothing"), TICK_DTYPE)


@pytest.mark.parametrize("wait", [BusySpinWait(spins_per_call=50), YieldingWait(spins=10)])
def test_spinning_waits_return_true_once_published_and_false_after_timeout(make_ring, wait):
    ring = make_ring()
    writer, reader = RingWriter(ring), RingReader(ring, "a", wait=wait)
    assert not reader.wait(0.01)
    write(writer, 1, 1)
    assert reader.wait(0.01)


def test_blocking_wait_times_out_then_returns_true_once_published(make_ring):
    ring = make_ring()
    writer, reader = RingWriter(ring), RingReader(ring, "a", wait=BlockingWait(max_block_s=0.005))
    assert not reader.wait(0.02)
    write(writer, 1, 1)
    assert reader.wait(0.02)
    assert not ring.readers()[0].asleep


def test_blocking_wait_needs_doorbells(make_ring):
    ring = make_ring()
    attached = ShmRing.attach_name(ring.name, TICK_DTYPE)
    with pytest.raises(RingError, match="needs doorbells"):
        RingReader(attached, "a", wait=BlockingWait())
    attached.close()


def test_writer_rings_only_readers_flagged_asleep(make_ring):
    ring = make_ring()
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    write(writer, 1, 1)
    assert not reader.doorbell.wait(0)  # a spinning reader costs the writer no syscall
    read_all(reader)
    assert reader.begin_sleep()
    write(writer, 2, 1)
    assert reader.doorbell.wait(0)
    reader.end_sleep()


def test_reader_may_not_sleep_when_its_next_sequence_is_already_published(make_ring):
    ring = make_ring()
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    write(writer, 1, 1)
    assert not reader.begin_sleep()
    assert not ring.readers()[0].asleep


def test_doorbell_fd_wakes_a_zmq_poller_next_to_sockets(make_ring):
    ring = make_ring()
    writer, reader = RingWriter(ring), RingReader(ring, "a")
    context = zmq.Context()
    socket = context.socket(zmq.PULL)
    try:
        poller = zmq.Poller()
        poller.register(socket, zmq.POLLIN)
        poller.register(reader.doorbell.fileno(), zmq.POLLIN)
        assert reader.begin_sleep()
        assert poller.poll(0) == []
        write(writer, 1, 1)
        assert dict(poller.poll(1000)) == {reader.doorbell.fileno(): zmq.POLLIN}
        reader.end_sleep()
        assert reader.doorbell.clear() == 1
    finally:
        socket.close(linger=0)
        context.term()
