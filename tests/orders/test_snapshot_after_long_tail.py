"""A restart that applied a long tail saves the state it rebuilt as the next snapshot
(orders/snapshotrestart.save_after_long_tail), before READY: with the writer starved (idle
priority on a saturated core) each restart otherwise read a longer tail than the one before.

The state saved is the restarting engine's, wired to a real broker and sink as the stage's is,
after `replay` and before restore settles anything: what a writer's shadow holds after the same
records. The next restart loads it and applies only what came after, and ends as a restore from
the whole journal, wherever the first snapshot and the long restart fall in the day (a hypothesis
property over both points).
"""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from common.journal import JournalReader, JournalWriter
from config.schema import Config, InstrumentConfig
from orders import snapshot
from orders.brokers.paper.broker import PaperBroker
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from orders.snapshotrestart import save_after_long_tail
from tests.orders.test_snapshot_properties import view
from tests.orders.test_snapshot_refusals import day, engine_of, write_journal, write_snapshot  # noqa: F401 - a fixture
from tests.orders.test_snapshot_refusals import restart as restart_from_snapshot

CONFIG = Config(instruments=(InstrumentConfig(symbol="SYM0", token=1, tick_size=0.05,
                                              ref_price=100.0),))


class Log:
    def __init__(self):
        self.lines: list[tuple[str, dict]] = []

    def info(self, event: str, **fields) -> None:
        self.lines.append((event, fields))

    warning = info


def context(desk) -> str:
    return snapshot.context_digest(CONFIG, desk.rows)


def live_restart(desk, directory, path, long_tail: int) -> int:
    """As OrdersStage.recover up to READY: an engine wired to a paper broker and a sink, the
    snapshot (if any) and the tail replayed, the tail saved if long; then settled. Returns the seq
    the snapshot on disk reflects."""
    emitted: list = []
    broker = PaperBroker(os.path.join(str(directory), "paper.jsonl"), desk.rows)
    engine = OrderEngine(desk.rows, desk.limits, FeeSchedule("zerodha"), broker, emitted.append,
                         stop_order_type=desk.stop_order_type)
    try:
        with JournalReader(path) as reader:
            loaded = snapshot.load(os.path.join(str(directory), snapshot.SNAPSHOT_FILE), engine,
                                   reader, context(desk), 1 << 40)
            tail = list(reader.read_from(reader.last_seq + 1))
            engine.replay(tail)
            seq = save_after_long_tail(str(directory), CONFIG, desk.rows, engine, reader, tail,
                                       loaded, Log(), long_tail=long_tail)
        engine.restore([])
    finally:
        broker.close()
    assert emitted == []
    return seq


def extend(path, events) -> None:
    with JournalWriter(path, "never") as w:
        for m in events:
            w.append(m)
        w.flush()


def whole(desk, events) -> OrderEngine:
    full = engine_of(desk)
    full.restore(events)
    return full


def test_a_restart_that_applied_a_long_tail_saves_it_and_the_next_reads_only_what_follows(
        tmp_path, day):  # noqa: F811 - the fixture
    desk, events = day
    half = len(events) // 2
    path = write_journal(tmp_path, events[:half])
    at_half = os.path.getsize(path)
    assert live_restart(desk, tmp_path, path, long_tail=half) == half   # the whole journal: saved
    extend(path, events[half:])
    engine, start, refused = restart_from_snapshot(desk, tmp_path, path, context=context(desk))
    assert not refused and start == at_half
    assert view(engine) == view(whole(desk, events))


def test_a_restart_that_applied_a_short_tail_leaves_the_snapshot_as_it_was(
        tmp_path, day):  # noqa: F811 - the fixture
    desk, events = day
    third = len(events) // 3
    path = write_journal(tmp_path, events[:third])
    write_snapshot(desk, tmp_path, path, context=context(desk))
    before = open(os.path.join(tmp_path, snapshot.SNAPSHOT_FILE), "rb").read()
    extend(path, events[third:2 * third])
    assert live_restart(desk, tmp_path, path, long_tail=third + 1) == third
    assert open(os.path.join(tmp_path, snapshot.SNAPSHOT_FILE), "rb").read() == before


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_snapshot_saved_after_a_long_tail_anywhere_in_the_day_restarts_as_the_whole_journal(
        tmp_path_factory, day, data):  # noqa: F811 - the fixture
    """The writer's snapshot at `first` (or none), a restart at `second` saving its tail, the day
    goes on to its end: the restart from the saved snapshot is the whole journal's engine."""
    desk, events = day
    directory = tmp_path_factory.mktemp("long")
    n = len(events)
    first = data.draw(st.integers(0, n - 2), label="writer's snapshot at")
    second = data.draw(st.integers(first + 1, n - 1), label="long restart at")
    path = write_journal(directory, events[:max(first, 1)])
    if first:
        write_snapshot(desk, directory, path, context=context(desk))
    extend(path, events[max(first, 1):second])
    assert live_restart(desk, directory, path, long_tail=1) == second
    extend(path, events[second:])
    engine, start, refused = restart_from_snapshot(desk, directory, path, context=context(desk))
    assert not refused and start > 0
    assert view(engine) == view(whole(desk, events))
