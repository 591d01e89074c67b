"""The orders snapshot file (orders/snapshot.py, orders/snapshotwriter.py): written by the shadow
only from what the journal holds, loaded with the reader just past it, and refused — the restart
then reads the whole journal — whenever it cannot be trusted: ahead of the journal, of another
journal, corrupt, of another format, code version or configuration, or with fills.jsonl behind
it."""

import os
import stat

import msgspec
import pytest

from common.journal import JournalReader, JournalWriter
from common.messages import OrderFilled
from orders import snapshot, snapshotwriter
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.scenario import batches, desk_options, market_day
from tests.orders.stubs import Desk
from tests.orders.test_snapshot_properties import view

CONTEXT = "context-a"


class Clock:
    def __init__(self):
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A kill-switch day's journal (halt, flatten, fills), stamped as the stage journals it."""
    d = tmp_path_factory.mktemp("day")
    ticks, intents = market_day(3)
    desk = Desk(str(d), **desk_options(60.0))
    for t, its in batches(ticks, intents, [500, 1200]):
        desk.engine.advance(t, its)
    desk.close()
    stamped = [msgspec.structs.replace(m, source="orders", seq=i + 1)
               for i, m in enumerate(desk.events)]
    return desk, stamped


def write_journal(directory, events, name="orders.jsonl") -> str:
    path = os.path.join(str(directory), name)
    with JournalWriter(path, "never") as w:
        for m in events:
            w.append(m)
        w.flush()
    with JournalWriter(os.path.join(str(directory), "fills.jsonl"), "never") as f:
        for m in events:
            if isinstance(m, OrderFilled) and m.seq > f.last_seq:
                f.append(m)
        f.flush()
    return path


def engine_of(desk) -> OrderEngine:
    def never(msg):
        raise AssertionError(msg)
    return OrderEngine(desk.rows, desk.limits, FeeSchedule("zerodha"), None, never,
                       stop_order_type=desk.stop_order_type)


def writer_of(desk, directory, journal_path, *, context=CONTEXT, **cadence):
    """The writer's process's shadow (orders/snapshotprocess.py runs exactly this), in-process."""
    return snapshotwriter.SnapshotWriter(
        os.path.join(str(directory), snapshot.SNAPSHOT_FILE), journal_path,
        lambda: engine_of(desk), context, **cadence)


def write_snapshot(desk, directory, journal_path, *,
                   context=CONTEXT) -> snapshotwriter.SnapshotWriter:
    """The writer's step over the journal as it stands, a snapshot due at once."""
    writer = writer_of(desk, directory, journal_path, context=context, min_events=1,
                       min_interval_ns=0, chunk=97, clock=Clock())
    assert writer.step(), "the writer did not write"
    writer.close()
    return writer


def restart(desk, directory, journal_path, *, context=CONTEXT, fills_last_seq=1 << 40):
    """As OrdersStage.recover: snapshot (or not), then the records after it."""
    engine = engine_of(desk)
    with JournalReader(journal_path) as reader:
        refused = ""
        try:
            snapshot.load(os.path.join(str(directory), snapshot.SNAPSHOT_FILE), engine, reader,
                          context, fills_last_seq)
        except snapshot.SnapshotRefused as e:
            refused = f"{e.kind}: {e}"
        start = reader.offset
        tail = list(reader.read_from(reader.last_seq + 1))
    engine.restore(tail)
    return engine, start, refused



def the_day_goes_on_and_a_restart_from_the_snapshot_is_the_whole_journal(desk, tmp_path, path,
                                                                         events, done: int):
    """The journal gets the rest of `events` (from `done` on); a restart from the snapshot plus
    that tail is the engine a restore from the whole journal builds."""
    with JournalWriter(path, "never") as w:
        for m in events[done:]:
            w.append(m)
        w.flush()
    engine, start, refused = restart(desk, tmp_path, path)
    assert not refused and start > 0
    full = engine_of(desk)
    full.restore(events)
    assert view(engine) == view(full)

def test_snapshot_written_mid_day_restarts_from_its_tail_as_the_whole_journal(tmp_path, day):
    desk, events = day
    half = len(events) // 2
    path = write_journal(tmp_path, events[:half])
    writer = write_snapshot(desk, tmp_path, path)
    assert writer.saved_seq == half
    mode = stat.S_IMODE(os.stat(writer.path).st_mode)
    assert mode == 0o600
    the_day_goes_on_and_a_restart_from_the_snapshot_is_the_whole_journal(desk, tmp_path, path,
                                                                        events, half)


def test_snapshot_writer_applies_everything_new_each_step_and_writes_at_its_cadence(tmp_path,
                                                                                  day):
    desk, events = day
    half = len(events) // 2
    path = write_journal(tmp_path, events[:half])
    clock = Clock()
    writer = writer_of(desk, tmp_path, path, min_events=100, min_interval_ns=1000, chunk=200,
                       clock=clock)
    # the first snapshot: as soon as min_events records are applied (every record is, each step)
    assert writer.step() and writer.saved_seq == writer.applied_seq == half

    def grow(n):
        start = writer.applied_seq
        with JournalWriter(path, "never") as w:
            for m in events[start:start + n]:
                w.append(m)
            w.flush()

    grow(110)
    clock.ns = 999
    assert not writer.step()                                   # not yet: too soon
    assert writer.applied_seq == half + 110 and writer.saved_seq == half
    clock.ns = 1000
    assert writer.step() and writer.saved_seq == half + 110
    grow(20)
    clock.ns = 5000
    assert not writer.step()                                   # not yet: too few records
    assert writer.applied_seq == half + 130 and writer.saved_seq == half + 110
    writer.close()


def _rewrite_header(path, **changes):
    raw = open(path, "rb").read()
    cut = raw.index(b"\n")
    header = msgspec.json.decode(raw[:cut])
    header.update(changes)
    open(path, "wb").write(msgspec.json.encode(header) + raw[cut:])


def _flip_last_byte(path):
    raw = bytearray(open(path, "rb").read())
    raw[-1] ^= 0xFF
    open(path, "wb").write(bytes(raw))


@pytest.mark.parametrize("case,reason", [
    ("ahead", "ahead_of_journal: ahead of the journal"),
    ("another journal", "another_journal: from another journal"),
    ("rewritten journal", "another_journal: from another journal"),
    ("corrupt state", "corrupt: corrupt"),
    ("corrupt header", "unreadable: unreadable header"),
    ("format", "format: format"),
    ("code version", "code_version: written by another code version"),
    ("configuration", "configuration: written under another configuration"),
    ("fills behind", "fills_behind: fills.jsonl ends at seq"),
])
def test_snapshot_that_cannot_be_trusted_is_refused_and_the_whole_journal_is_read(tmp_path, day,
                                                                                  case, reason):
    desk, events = day
    half = len(events) // 2
    path = write_journal(tmp_path, events[:half])
    snap = write_snapshot(desk, tmp_path, path).path
    context, fills = CONTEXT, 1 << 40
    if case == "ahead":                      # the journal lost its tail (a power cut)
        os.unlink(path)
        os.unlink(os.path.join(str(tmp_path), "fills.jsonl"))
        path = write_journal(tmp_path, events[:half - 5])
    elif case == "another journal":          # the day's journal replaced by another one
        os.unlink(path)
        path = write_journal(tmp_path, [msgspec.structs.replace(m, ts_event_ns=m.ts_event_ns + 1)
                                        for m in events])
    elif case == "rewritten journal":        # same first record, another one at the offset
        os.unlink(path)
        path = write_journal(tmp_path, events[:half - 1] + [
            msgspec.structs.replace(events[half - 1], ts_event_ns=events[half - 1].ts_event_ns + 1)
        ] + events[half:])
    elif case == "corrupt state":
        _flip_last_byte(snap)
    elif case == "corrupt header":
        open(snap, "r+b").write(b"{garbage")
    elif case == "format":
        _rewrite_header(snap, format="otrade.orders.snapshot/0")
    elif case == "code version":
        _rewrite_header(snap, code="0" * 32)
    elif case == "configuration":
        context = "context-b"
    elif case == "fills behind":
        fills = 0
    engine, start, refused = restart(desk, tmp_path, path, context=context, fills_last_seq=fills)
    assert refused.startswith(reason), refused                 # named and said
    assert start == 0                                          # the whole journal was read
    with JournalReader(path) as reader:
        full = engine_of(desk)
        full.restore(list(reader.read_from(1)))
    assert view(engine) == view(full)


def test_snapshot_state_that_does_not_fit_the_engine_is_refused_before_touching_it(day):
    desk, events = day
    shadow = engine_of(desk)
    for m in events[:100]:
        shadow._apply(m)
    payload = snapshot.capture(shadow)
    engine = engine_of(desk)
    engine.book.extra_index = {}              # a newer engine: an attribute the snapshot lacks
    with pytest.raises(snapshot.SnapshotRefused):
        snapshot.put(engine, payload)
    assert not engine.book.orders and engine._marked_seq == 0


def test_snapshot_writer_that_cannot_write_raises_for_its_process_to_exit(tmp_path, day):
    """Its process exits on it (orders/snapshotprocess.py) and the stage starts another later."""
    desk, events = day
    path = write_journal(tmp_path, events[:200])
    writer = snapshotwriter.SnapshotWriter(
        str(tmp_path / "missing-dir" / snapshot.SNAPSHOT_FILE), path, lambda: engine_of(desk),
        CONTEXT, min_events=1, min_interval_ns=0, clock=Clock())
    with pytest.raises(OSError):
        writer.step()
    assert writer.written == 0
    writer.close()


def test_snapshot_writer_of_a_restarted_process_goes_on_from_the_last_snapshot(tmp_path, day):
    """A new process's shadow starts from the snapshot, applies the records since, and its
    snapshot restarts as the whole journal."""
    desk, events = day
    third = len(events) // 3
    path = write_journal(tmp_path, events[:third])
    write_snapshot(desk, tmp_path, path)
    with JournalWriter(path, "never") as w:
        for m in events[third:2 * third]:
            w.append(m)
        w.flush()
    second = write_snapshot(desk, tmp_path, path)
    assert second.saved_seq == 2 * third
    the_day_goes_on_and_a_restart_from_the_snapshot_is_the_whole_journal(desk, tmp_path, path,
                                                                        events, 2 * third)
