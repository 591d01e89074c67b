"""Journals: catch-up by seq, torn-tail recovery, concurrent tailing, and SIGKILL durability.

What a damaged journal does (refuses recovery, naming the line) is in test_journal_integrity.py.
"""

import multiprocessing
import os
import signal

import pytest

from common.errors import BusError
from common.journal import FSYNC_POLICIES, JournalReader, JournalWriter, read_dicts
from common.journalline import JournalCorrupt
from common.messages import OrderFilled, PositionChanged, TicksProcessed
from tests.support import eventually

SPAWN = multiprocessing.get_context("spawn")


def tick_mark(seq: int) -> TicksProcessed:
    return TicksProcessed(source="signals", seq=seq, ts_event_ns=seq, ts_init_ns=seq,
                          upto_seq=seq + 1, intents_sent=seq % 3)


def write_journal(path, seqs, fsync="never") -> None:
    with JournalWriter(str(path), fsync) as writer:
        for seq in seqs:
            writer.append(tick_mark(seq))


@pytest.fixture
def children():
    procs = []
    yield procs
    for proc in procs:
        if proc.is_alive():
            proc.kill()
        proc.join(10)


# ---------------------------------------------------------------- catch-up and recovery

def test_read_from_returns_records_at_and_after_the_sequence_in_order(tmp_path):
    path = tmp_path / "signals.jsonl"
    write_journal(path, range(1, 101))
    reader = JournalReader(str(path))
    assert [m.seq for m in reader.read_from(50)] == list(range(50, 101))
    assert [m.seq for m in reader.read_from(1)] == list(range(1, 101))
    assert list(reader.read_from(101)) == []
    assert next(reader.read_from(1)) == tick_mark(1)
    reader.close()


def test_poll_after_read_from_returns_only_records_appended_since(tmp_path):
    path = tmp_path / "signals.jsonl"
    writer = JournalWriter(str(path), "never")
    for seq in (1, 2, 3):
        writer.append(tick_mark(seq))
    writer.flush()
    with JournalReader(str(path)) as reader:
        assert [m.seq for m in reader.read_from(2)] == [2, 3]
        assert reader.poll() == []
        writer.append(tick_mark(4))
        assert reader.poll() == []  # appended, not yet flushed
        writer.flush()
        assert [m.seq for m in reader.poll()] == [4]
    writer.close()


def test_a_catch_up_past_what_was_read_resumes_instead_of_rescanning(tmp_path):
    path = tmp_path / "orders.jsonl"
    writer = JournalWriter(str(path), "never")
    for seq in (1, 2, 3):
        writer.append(tick_mark(seq))
    writer.flush()
    with JournalReader(str(path)) as reader:
        assert [m.seq for m in reader.read_from(1)] == [1, 2, 3]
        first_line_len = path.read_bytes().index(b"\n")
        with open(path, "r+b") as f:  # spoil line 1 in place: only a rescan would notice
            f.write(b"x" * first_line_len)
        writer.append(tick_mark(4))
        writer.flush()
        assert [m.seq for m in reader.read_from(4)] == [4]
        assert reader.line_no == 4
        # earlier seq: from the top, which is spoilt
        with pytest.raises(JournalCorrupt) as refused:
            list(reader.read_from(2))
        assert refused.value.line_no == 1
    writer.close()


def test_a_catch_up_from_an_earlier_seq_rescans_from_the_top(tmp_path):
    path = tmp_path / "orders.jsonl"
    write_journal(path, [1, 2, 3])
    with JournalReader(str(path)) as reader:
        assert [m.seq for m in reader.read_from(1)] == [1, 2, 3]
        assert [m.seq for m in reader.read_from(2)] == [2, 3]
        assert reader.line_no == 3


@pytest.mark.parametrize("n,target", [(20_000, 1), (20_000, 2), (20_000, 12_345), (20_000, 19_999),
                                      (20_000, 20_000), (20_000, 20_001), (20_000, 10**9),
                                      (7, 4)])
def test_skip_below_lands_at_or_before_the_line_and_reads_on_exactly(tmp_path, n, target):
    path = tmp_path / "signals.jsonl"
    write_journal(path, range(1, n + 1))
    with open(path, "ab") as f:
        f.write(b'{"type":"TicksProcessed","seq":')        # a torn last line: never read
    lines = path.read_bytes().split(b"\n")
    with JournalReader(str(path)) as reader:
        reader.skip_below(target)
        assert reader.offset <= sum(len(x) + 1 for x in lines[:max(0, target - 1)])
        assert reader.line_no == path.read_bytes()[:reader.offset].count(b"\n")
        assert [m.seq for m in reader.read_from(target)] == list(range(target, n + 1))


def test_skip_below_reads_a_few_pages_not_the_lines_below(tmp_path):
    """The lines below are not read, so not checked: a damaged one there goes unnoticed (the caller
    has handled them); a damaged one at or above the target still refuses."""
    path = tmp_path / "signals.jsonl"
    write_journal(path, range(1, 20_001))
    data = bytearray(path.read_bytes())
    at = data.index(b"\n") + 1                            # line 2, spoilt in place
    data[at:at + 5] = b"xxxxx"
    path.write_bytes(bytes(data))
    with JournalReader(str(path)) as reader:
        reader.skip_below(15_000)
        assert [m.seq for m in reader.read_from(15_000)][:2] == [15_000, 15_001]
    with JournalReader(str(path)) as reader, pytest.raises(JournalCorrupt) as refused:
        reader.skip_below(2)
        list(reader.read_from(2))
    assert refused.value.line_no == 2


def test_reopened_writer_cuts_a_torn_last_record_and_continues_numbering(tmp_path):
    path = tmp_path / "orders.jsonl"
    write_journal(path, range(1, 11))
    size = os.path.getsize(path)
    os.truncate(path, size - 7)  # a crash in the middle of the last record
    with JournalWriter(str(path), "batch") as writer:
        assert writer.last_seq == 9
        assert writer.truncated_bytes > 0
        assert open(path, "rb").read().endswith(b"\n")
        writer.append(tick_mark(10))
        writer.append(tick_mark(11))
    with JournalReader(str(path)) as reader:
        assert [m.seq for m in reader.read_from(1)] == list(range(1, 12))


def test_writer_on_a_file_without_any_newline_starts_empty(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b'{"type":"TicksProc')
    with JournalWriter(str(path)) as writer:
        assert writer.last_seq == 0
        writer.append(tick_mark(1))
    assert [m.seq for m in JournalReader(str(path)).read_from(0)] == [1]


def test_reader_leaves_a_partial_last_line_for_the_next_poll(tmp_path):
    path, other = tmp_path / "signals.jsonl", tmp_path / "other.jsonl"
    write_journal(path, [1])
    write_journal(other, [1, 2])
    second = other.read_bytes().split(b"\n")[1] + b"\n"   # a sealed record for seq 2
    with JournalReader(str(path)) as reader:
        assert [m.seq for m in reader.poll()] == [1]
        with open(path, "ab") as f:
            f.write(second[:20])
            f.flush()
            assert reader.poll() == []
            f.write(second[20:])
        assert [m.seq for m in reader.poll()] == [2]


def test_reader_of_a_journal_not_created_yet_sees_nothing_then_its_records(tmp_path):
    path = tmp_path / "later.jsonl"
    with JournalReader(str(path)) as reader:
        assert reader.poll() == []
        write_journal(path, [1, 2])
        assert [m.seq for m in reader.poll()] == [1, 2]


def test_read_dicts_returns_raw_records_and_skips_torn_and_corrupt_lines(tmp_path):
    path = tmp_path / "orders.jsonl"
    write_journal(path, [1, 2])
    with open(path, "ab") as f:
        f.write(b'not json\n{"type":"TicksProcessed","seq":3}\n{"type":')
    records = read_dicts(str(path))
    assert [(r["type"], r["seq"]) for r in records] == [("TicksProcessed", 1),
                                                        ("TicksProcessed", 2)]
    assert read_dicts(str(tmp_path / "missing.jsonl")) == []


# ---------------------------------------------------------------- writer rules

@pytest.mark.parametrize("policy", FSYNC_POLICIES)
def test_every_fsync_policy_writes_readable_records(tmp_path, policy):
    path = tmp_path / f"{policy}.jsonl"
    write_journal(path, [1, 2, 3], fsync=policy)
    assert [m.seq for m in JournalReader(str(path)).read_from(0)] == [1, 2, 3]


def test_an_unknown_fsync_policy_is_rejected(tmp_path):
    with pytest.raises(ValueError):
        JournalWriter(str(tmp_path / "x.jsonl"), "sometimes")


def test_always_policy_writes_each_record_without_a_flush(tmp_path):
    path = tmp_path / "always.jsonl"
    writer = JournalWriter(str(path), "always")
    writer.append(tick_mark(1))
    assert [m.seq for m in JournalReader(str(path)).read_from(0)] == [1]
    writer.close()


def test_a_second_writer_on_the_same_journal_is_refused(tmp_path):
    path = str(tmp_path / "orders.jsonl")
    with JournalWriter(path):
        with pytest.raises(BusError):
            JournalWriter(path)
    JournalWriter(path).close()  # free again once the first one closed


@pytest.mark.parametrize("seq", [0, 5, 4])
def test_append_refuses_a_sequence_that_does_not_increase(tmp_path, seq):
    writer = JournalWriter(str(tmp_path / "orders.jsonl"))
    writer.append(tick_mark(5))
    with pytest.raises(BusError):
        writer.append(tick_mark(seq))
    writer.close()


def test_append_refuses_a_record_that_would_not_read_back(tmp_path):
    path = tmp_path / "positions.jsonl"
    writer = JournalWriter(str(path))
    nan_price = PositionChanged(seq=1, ts_event_ns=1, instrument=1, symbol="INFY", qty=0,
                                avg_price=float("nan"), realised_pnl_inr=0.0,
                                unrealised_pnl_inr=0.0, last_price=0.0)
    with pytest.raises(BusError):
        writer.append(nan_price)
    assert writer.last_seq == 0
    writer.close()
    assert path.read_bytes() == b""


def test_large_batches_are_written_even_before_flush(tmp_path):
    path = tmp_path / "fills.jsonl"
    writer = JournalWriter(str(path), "never")
    seq = 0
    while os.path.getsize(path) == 0 and seq < 20_000:  # the buffer is bounded (about 1 MiB)
        seq += 1
        writer.append(OrderFilled(seq=seq, ts_event_ns=seq, client_order_id="E" * 20,
                                  broker_order_id="B" * 16, fill_id="F" * 22, strategy="ma_x",
                                  bracket_id="b1", role="ENTRY", instrument=1, symbol="INFY",
                                  side=1, qty=1, price=1.5, fees_inr=0.1, tick_seq=seq,
                                  leaves_qty=0))
    assert os.path.getsize(path) > 0
    writer.close()
    assert [m.seq for m in JournalReader(str(path)).read_from(0)] == list(range(1, seq + 1))


# ---------------------------------------------------------------- real processes

def _tail_in_child(path: str, count: int, results) -> None:
    import time
    reader = JournalReader(path)
    seen: list[int] = []
    deadline = time.monotonic() + 20
    while len(seen) < count and time.monotonic() < deadline:
        seen.extend(m.seq for m in reader.poll())
        time.sleep(0.0005)
    results.put(seen)


def test_a_reader_in_another_process_tails_a_journal_being_appended(tmp_path, children):
    path = str(tmp_path / "signals.jsonl")
    count = 3_000
    results = SPAWN.Queue()
    writer = JournalWriter(path, "never")
    child = SPAWN.Process(target=_tail_in_child, args=(path, count, results))
    children.append(child)
    child.start()
    seq = 0
    for batch in range(300):
        for _ in range(1 + batch % 19):
            if seq < count:
                seq += 1
                writer.append(tick_mark(seq))
        writer.flush()
    while seq < count:
        seq += 1
        writer.append(tick_mark(seq))
    writer.close()
    seen = results.get(timeout=30)
    child.join(10)
    assert seen == list(range(1, count + 1))


def _write_then_hang(path: str, count: int, flushed) -> None:
    import time
    writer = JournalWriter(path, "never")
    for seq in range(1, count + 1):
        writer.append(tick_mark(seq))
    writer.flush()
    writer.append(tick_mark(count + 1))  # appended but never flushed: may be lost
    flushed.set()
    time.sleep(60)


def test_records_flushed_before_a_sigkill_are_all_there(tmp_path, children):
    path = str(tmp_path / "orders.jsonl")
    flushed = SPAWN.Event()
    child = SPAWN.Process(target=_write_then_hang, args=(path, 500, flushed))
    children.append(child)
    child.start()
    assert flushed.wait(30)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL
    eventually(lambda: _lock_is_free(path), message="the dead writer's lock is released")
    with JournalWriter(path) as writer:
        assert writer.last_seq >= 500
    seqs = [m.seq for m in JournalReader(path).read_from(0)]
    assert seqs[:500] == list(range(1, 501))


def _lock_is_free(path: str) -> bool:
    try:
        JournalWriter(path).close()
    except BusError:
        return False
    return True


def test_batch_fsync_syncs_what_was_written_once_and_an_idle_flush_not_at_all(
    tmp_path, monkeypatch
):
    import common.journal as journal

    synced = []
    real = os.fdatasync
    monkeypatch.setattr(journal.os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    with JournalWriter(str(tmp_path / "b.jsonl"), "batch") as writer:
        opened = len(synced)                    # opening may sync the file it created
        writer.append(tick_mark(1))
        writer.append(tick_mark(2))
        writer.flush()
        assert len(synced) == opened + 1        # both records, one sync
        writer.flush()
        writer.flush()
        assert len(synced) == opened + 1        # nothing new: no sync (orders flushes every loop)
        writer.append(tick_mark(3))
        writer.flush()
        assert len(synced) == opened + 2
    assert [m.seq for m in JournalReader(str(tmp_path / "b.jsonl")).read_from(0)] == [1, 2, 3]
