"""The ring across real processes: the memory-ordering proof, lossless delivery, lapping, restarts,
wake-ups.

Every tick's fields are a function of its sequence (tests.support.make_ticks), so a torn or
misplaced record is caught field by field. Each test is bounded by a tick count and a generous
deadline; none asserts on speed.
"""

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from common.doorbell import Doorbell
from common.dtypes import TICK_DTYPE
from common.ringbuffer import RingReader, RingWriter, ShmRing
from common.waits import BlockingWait, YieldingWait
from tests.support import bad_ticks, eventually, make_ticks, unique_segment

DEADLINE_S = 60.0  # a hang fails the test instead of the suite; normal runs take a few seconds
# Children forked from the forkserver start with numpy and the compiled kernels already imported.
multiprocessing.get_context("forkserver").set_forkserver_preload(["numpy", "common.ringbuffer"])


def _writer_main(handle, last_seq, batch, conn):
    """Publish ticks up to `last_seq`, `batch` at a time; report the published cursor."""
    ring = ShmRing.attach(handle)
    writer = RingWriter(ring)
    deadline = time.monotonic() + DEADLINE_S
    seq = writer.next_seq
    while seq <= last_seq and time.monotonic() < deadline:
        chunk = make_ticks(np.arange(seq, min(seq + 4096, last_seq + 1)))
        done = 0
        while done < len(chunk) and time.monotonic() < deadline:
            done += writer.write_batch(chunk[done:done + batch], timeout_s=0.05)
        seq += done
    conn.send(ring.published)
    writer.close()
    ring.close()


def _reader_main(handle, name, last_seq, batch, slow, conn):
    """Read until `last_seq`, committing every batch; report what came back and how it looked."""
    ring = ShmRing.attach(handle)
    reader = RingReader(ring, name, wait=YieldingWait())
    out = np.zeros(batch, TICK_DTYPE)
    seen = {"first": 0, "last": reader.cursor - 1, "count": 0, "bad": 0, "out_of_order": 0}
    deadline = time.monotonic() + DEADLINE_S
    while seen["last"] < last_seq and time.monotonic() < deadline:
        if not reader.wait(0.05):
            continue
        got = out[:reader.read_batch(out)]
        reader.commit()
        if len(got) == 0:
            continue
        seqs = got["seq"]
        seen["first"] = seen["first"] or int(seqs[0])
        seen["bad"] += bad_ticks(got)
        seen["out_of_order"] += int(seqs[0] <= seen["last"]) + int(
            np.count_nonzero(np.diff(seqs) <= 0)
        )
        seen["last"], seen["count"] = int(seqs[-1]), seen["count"] + len(got)
        while slow and ring.published < min(reader.cursor + 2 * ring.capacity, last_seq):
            time.sleep(0.0005)  # fall two laps behind, on purpose
    seen.update(overruns=reader.overruns, lost=reader.lost)
    conn.send(seen)
    reader.close()
    ring.close()


def _blocking_reader_main(handle, name, conn):
    ring = ShmRing.attach(handle)
    reader = RingReader(ring, name, wait=BlockingWait(max_block_s=DEADLINE_S))
    conn.send("ready")
    woke = reader.wait(DEADLINE_S)  # only the doorbell can end this early
    out = np.zeros(8, TICK_DTYPE)
    conn.send((woke, list(out["seq"][:reader.read_batch(out)])))
    reader.close()
    ring.close()


def _ring(bell):
    bell.ring()


@pytest.fixture
def start():
    """Start a child process (forkserver by default); kill and reap whatever is left at teardown."""
    started = []

    def start_process(target, *args, method="forkserver"):
        context = multiprocessing.get_context(method)
        process = context.Process(target=target, args=args, daemon=True)
        process.start()
        started.append(process)
        return process

    yield start_process
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(10)


@pytest.fixture
def make_ring():
    made = []

    def make(capacity, readers, lossless=False):
        ring = ShmRing.create(
            unique_segment("stress"), capacity, TICK_DTYPE, readers=readers, lossless=lossless
        )
        made.append(ring)
        return ring

    yield make
    for ring in made:
        ring.close()
        ring.unlink()


def pipe():
    return multiprocessing.get_context("forkserver").Pipe(duplex=False)


def receive(conn):
    assert conn.poll(DEADLINE_S + 30), "child did not report"
    return conn.recv()


def test_lossless_mode_delivers_millions_of_ticks_intact_in_order_without_gaps(make_ring, start):
    last = 2_000_000
    # "idle" never reads
    ring = make_ring(4096, [("signals", True), ("idle", False)], lossless=True)
    reader_in, reader_out = pipe()
    writer_in, writer_out = pipe()
    start(_reader_main, ring.handle(), "signals", last, 4096, False, reader_out)
    start(_writer_main, ring.handle(), last, 1024, writer_out)
    assert receive(writer_in) == last
    seen = receive(reader_in)
    assert (seen["first"], seen["last"], seen["count"]) == (1, last, last)
    assert (seen["bad"], seen["out_of_order"], seen["lost"]) == (0, 0, 0)


def test_reader_racing_the_writer_on_a_tiny_ring_never_returns_a_torn_record(make_ring, start):
    # The memory-ordering proof: 64 slots, small batches, so the writer is forever rewriting slots
    # the reader is copying. Each overwritten read must be caught by its stamp, never returned.
    last = 2_000_000
    ring = make_ring(64, [("racer", False)])
    reader_in, reader_out = pipe()
    writer_in, writer_out = pipe()
    start(_reader_main, ring.handle(), "racer", last, 4096, False, reader_out)
    start(_writer_main, ring.handle(), last, 8, writer_out)
    assert receive(writer_in) == last
    seen = receive(reader_in)
    assert (seen["bad"], seen["out_of_order"]) == (0, 0)
    assert seen["last"] == last
    assert seen["count"] + seen["lost"] == last  # every sequence either delivered or counted lost


def test_slow_live_reader_is_lapped_counts_overruns_and_still_gets_only_intact_records(
    make_ring, start
):
    last = 2_000_000
    ring = make_ring(1024, [("slow", False)])
    reader_in, reader_out = pipe()
    writer_in, writer_out = pipe()
    start(_reader_main, ring.handle(), "slow", last, 256, True, reader_out)
    start(_writer_main, ring.handle(), last, 1024, writer_out)
    assert receive(writer_in) == last  # the live writer never waited for the slow reader
    seen = receive(reader_in)
    assert seen["overruns"] >= 1 and seen["lost"] > 0
    assert (seen["bad"], seen["out_of_order"]) == (0, 0)
    assert seen["count"] + seen["lost"] == last


def test_sigkilled_reader_restarts_at_its_committed_cursor_and_misses_nothing(make_ring, start):
    last = 200_000
    ring = make_ring(1024, [("victim", True)], lossless=True)
    writer = RingWriter(ring)
    victim = start(_reader_main, ring.handle(), "victim", last, 256, False, pipe()[1])
    feed(writer, last, until=lambda: ring.readers()[0].cursor > last // 3)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    committed = ring.readers()[0].cursor
    results, results_out = pipe()
    start(_reader_main, ring.handle(), "victim", last, 256, False, results_out)
    feed(writer, last, until=lambda: ring.published == last)
    seen = receive(results)
    assert seen["first"] == committed  # exactly the uncommitted batch, if any, is read again
    assert (seen["last"], seen["count"]) == (last, last - committed + 1)
    assert (seen["bad"], seen["out_of_order"], seen["lost"]) == (0, 0, 0)
    writer.close()


def feed(writer, last, until):
    """Write ticks (lossless: as fast as the gating reader allows) until `until()` or `last`."""
    deadline = time.monotonic() + DEADLINE_S
    while not until():
        assert time.monotonic() < deadline, "reader stopped making progress"
        seq = writer.next_seq
        if seq <= last:
            writer.write_batch(make_ticks(np.arange(seq, min(seq + 256, last + 1))), timeout_s=0.01)
        else:
            time.sleep(0.001)


def test_blocking_reader_in_another_process_wakes_on_its_doorbell(make_ring, start):
    ring = make_ring(64, [("orders", True)])
    results, results_out = pipe()
    start(_blocking_reader_main, ring.handle(), "orders", results_out)
    assert receive(results) == "ready"
    eventually(lambda: ring.readers()[0].asleep, timeout=DEADLINE_S)
    RingWriter(ring).write_batch(make_ticks([1]))
    assert receive(results) == (True, [1])


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
def test_doorbell_pickled_into_a_child_rings_the_parents_copy(start, method):
    bell = Doorbell()
    try:
        start(_ring, bell, method=method).join(DEADLINE_S)
        assert bell.wait(DEADLINE_S)
    finally:
        bell.close()
