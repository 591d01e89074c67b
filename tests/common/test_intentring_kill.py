"""The intent ring across real processes killed at random: nothing lost, nothing handled twice.

Two children play the two stages' halves of the protocol, over a small ring (wraparound and a full
ring all the time):
- writer (signals): journals each intent and flushes, publishes it (waiting while the ring is full),
  raises the watermark; a new life publishes what its journal has beyond the ring (resume), then
  continues after its journal's last seq.
- reader (orders): blocks on the doorbell, reads, journals what it handles (its own journal, deduped
  by seq on a restart, as orders dedupes by intent id), commits its cursor in shared memory.
Each is SIGKILLed at random moments (mid-write, mid-read) and started again; at the end the reader's
journal must hold every intent exactly once, in order, and equal to what the writer journaled.
"""

import multiprocessing
import os
import random
import time

import pytest

from common import intentring
from common.journal import JournalReader, JournalWriter
from common.ringbuffer import ShmRing
from tests.common.test_intentring import intent
from tests.support import unique_segment

N = 20_000
KILLS = 6
DEADLINE_S = 90.0
CTX = multiprocessing.get_context("forkserver")
CTX.set_forkserver_preload(["numpy", "common.intentring", "common.journal"])


def _read(path: str, first: int) -> list:
    with JournalReader(path) as reader:
        return list(reader.read_from(first))


def _writer_main(handle, path: str) -> None:
    ring = ShmRing.attach(handle)
    journal = JournalWriter(path, "never")
    writer = intentring.IntentWriter(ring, batch=4)
    writer.resume(journal.last_seq, lambda first: _read(path, first))
    deadline = time.monotonic() + DEADLINE_S
    seq = journal.last_seq
    while time.monotonic() < deadline:
        if writer.flush() and seq < N:
            batch = [intent(s) for s in range(seq + 1, min(seq + 3, N) + 1)]
            for msg in batch:
                journal.append(msg)
            journal.flush()                              # durable before it is published
            seq = batch[-1].seq
            writer.publish(batch)
        elif seq >= N and not writer.backlog:
            writer.advance(intent(N).tick_seq + 1, time.monotonic_ns(), True, 0)
            return
        if writer.backlog:
            time.sleep(0.0002)                          # the ring is full: orders makes room
        else:
            writer.advance(batch[-1].tick_seq + 1, time.monotonic_ns(), False, 1_000_000)


def _reader_main(handle, path: str) -> None:
    ring = ShmRing.attach(handle)
    journal = JournalWriter(path, "never")
    done = journal.last_seq
    reader = intentring.IntentReader(ring, batch=8)
    deadline = time.monotonic() + DEADLINE_S
    while done < N and time.monotonic() < deadline:
        reader.watermark()
        rows = reader.read()
        for row in rows:
            msg = intentring.to_message(row)
            if msg.seq <= done:                        # handled by an earlier life
                continue
            assert msg.seq == done + 1, f"gap: {done} then {msg.seq}"
            journal.append(msg)
            done = msg.seq
        journal.flush()
        reader.commit(1 << 62)                         # everything read is handled (journaled)
        if len(rows) == 0 and reader.begin_sleep():
            reader.doorbell.wait(0.05)
            reader.end_sleep()
        elif len(rows):
            time.sleep(0.001)                          # slower than the writer: the ring stays full


def _start(target, handle, path):
    proc = CTX.Process(target=target, args=(handle, path), daemon=True)
    proc.start()
    return proc


@pytest.mark.slow
def test_killing_writer_and_reader_at_random_then_every_intent_is_handled_exactly_once(tmp_path):
    ring = intentring.create(unique_segment("intents"), 64)
    signals_path, orders_path = str(tmp_path / "signals.jsonl"), str(tmp_path / "orders.jsonl")
    rng = random.Random(int(os.environ.get("OTRADE_CHAOS_SEED", "14")))
    writer = reader = None
    killed = {"writer": 0, "reader": 0}
    try:
        writer = _start(_writer_main, ring.handle(), signals_path)
        reader = _start(_reader_main, ring.handle(), orders_path)
        for k in range(2 * KILLS):
            time.sleep(rng.uniform(0.05, 0.4))
            if k % 2 == 0 and writer.is_alive():
                writer.kill()
                writer.join()
                killed["writer"] += 1
                writer = _start(_writer_main, ring.handle(), signals_path)
            elif reader.is_alive():
                reader.kill()
                reader.join()
                killed["reader"] += 1
                reader = _start(_reader_main, ring.handle(), orders_path)
        assert min(killed.values()) >= KILLS // 2, f"too few kills landed while both ran: {killed}"
        writer.join(DEADLINE_S)
        reader.join(DEADLINE_S)
        assert (writer.exitcode, reader.exitcode) == (0, 0)
        handled = _read(orders_path, 1)
        assert [m.seq for m in handled] == list(range(1, N + 1))
        assert handled == _read(signals_path, 1) == [intent(s) for s in range(1, N + 1)]
    finally:
        for proc in (writer, reader):
            if proc is not None and proc.is_alive():
                proc.kill()
                proc.join()
        ring.close()
        ring.unlink()
