"""The signals stage's watermark never covers a tick whose intents are not all in the intent ring.

The ring's watermark word `u` tells orders it may apply every tick below u: all of their intents are
already published. These tests drive the stage's own batch loop in process, over a real tick ring
and a real intent ring (shared memory, this process only), a real journal and the real engine; the
intent writer is the real one, recording in order every record it published and every watermark it
raised.
"""

from collections import Counter

import numpy as np
import pytest

from common import intentring
from common.dtypes import TICK_DTYPE
from common.journal import JournalReader, JournalWriter
from common.ringbuffer import RingReader, RingWriter, ShmRing
from common.waits import YieldingWait
from config.schema import StrategyConfig
from signals.stage import BATCH, SignalsStage
from tests.signals.synthetic import interleaved_ticks, make_config, make_engine
from tests.support import unique_segment

# two strategies: at most 32 ticks per engine call, so one batch takes many calls
SMALL_OUTBOX = 64
ROOMY = 1 << 15     # intents: more than any test here raises, nobody has to read them


class RecordingWriter(intentring.IntentWriter):
    """The real writer; `sent` keeps ("intent", tick seq) per published record and ("mark", u) per
    raise."""

    def __init__(self, ring):
        super().__init__(ring)
        self.sent = []

    def flush(self) -> bool:
        before = self.ring.published
        done = super().flush()
        for seq in range(before + 1, self.ring.published + 1):
            self.sent.append(
                ("intent", int(self.ring.slots[seq & (self.ring.capacity - 1)]["tick_seq"]))
            )
        return done

    def advance(self, upto, now_ns, force, every_ns) -> int:
        before = self.watermark
        held = super().advance(upto, now_ns, force, every_ns)
        if held > before:
            self.sent.append(("mark", held))
        return held


class Runtime:
    """Stands in for common.stage.StageRuntime: counters, a stop flag, and `beat`, which runs
    `on_beat` (a stand-in for orders making room in the intent ring while signals waits)."""

    def __init__(self, on_beat=None):
        self.counts = Counter()
        self.should_stop = False
        self.on_beat = on_beat or (lambda: None)
        self.beats = 0

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def beat(self) -> None:
        self.beats += 1
        self.on_beat()

    def progress(self) -> None:
        self.beat()


def _two_busy_strategies():
    return make_config(
        StrategyConfig(name="mac", kind="ma_crossover", params={"fast": 2, "slow": 3, "ma": "sma"}),
        StrategyConfig(
            name="vwr", kind="vwap_revert", params={"band_pct": 0.05, "min_session_ticks": 2}
        ),
    )


def _build(tmp_path, capacity: int, cleanup: list) -> SignalsStage:
    """A SignalsStage wired to in-process rings, a journal in tmp_path and a recording intent
    writer."""
    ring = ShmRing.create(
        unique_segment("ring"), 2 * BATCH, TICK_DTYPE, readers=[("signals", False)]
    )
    intents = intentring.create(unique_segment("intents"), capacity)
    cleanup += [ring, intents]
    stage = object.__new__(SignalsStage)
    stage.journal = JournalWriter(str(tmp_path / "signals.jsonl"), "never")
    stage.engine, _ = make_engine(_two_busy_strategies(), outbox_capacity=SMALL_OUTBOX)
    stage.reader = RingReader(ring, "signals", wait=YieldingWait())
    stage.intents, stage.rt = RecordingWriter(intents), Runtime()
    stage.seq, stage.recent = stage.journal.last_seq, set()
    stage._init_loop()
    stage.writer = RingWriter(ring)
    cleanup.append(stage)
    return stage


@pytest.fixture
def make_stage(tmp_path):
    cleanup = []
    yield lambda capacity=ROOMY: _build(tmp_path, capacity, cleanup)
    for obj in reversed(cleanup):
        if isinstance(obj, SignalsStage):
            obj.engine.release()
            obj.journal.close()
            obj.reader.close()
            obj.intents.close()
        else:
            obj.close()
            obj.unlink()


def _publish(stage, n: int, seed: int) -> None:
    rows = interleaved_ticks(n, 4, seed=seed)
    assert stage.writer.write_batch(rows) == n


def _late_intents(sent) -> list[tuple[int, int]]:
    """(intent tick_seq, watermark before it) for every intent a watermark already covered."""
    late, covered = [], 0
    for kind, value in sent:
        if kind == "mark":
            covered = max(covered, value)
        elif value < covered:
            late.append((value, covered))
    return late


def test_watermark_when_the_outbox_splits_a_batch_then_never_covers_an_unpublished_intent(
    make_stage,
):
    stage = make_stage()
    _publish(stage, BATCH, seed=31)
    assert stage._tick_batch() == BATCH
    sent = stage.intents.sent
    marks = [v for k, v in sent if k == "mark"]
    assert sum(k == "intent" for k, _ in sent) > 4 * SMALL_OUTBOX, (
        "the outbox must overflow several times"
    )
    assert len(marks) > 4, "the batch must have been cut into several engine calls"
    assert _late_intents(sent) == []
    assert marks == sorted(marks) and marks[-1] == BATCH + 1 == stage.intents.watermark
    assert stage.reader.committed == BATCH + 1


def test_watermark_mid_batch_then_is_the_end_of_the_ticks_whose_intents_were_published(make_stage):
    stage = make_stage()
    _publish(stage, BATCH, seed=32)
    stage._tick_batch()
    covered, last_intent = 0, 0
    for kind, value in stage.intents.sent:
        if kind == "intent":
            last_intent = value
        elif value < BATCH + 1:   # mid-batch: right after the intents of the ticks it covers
            assert covered < value and last_intent < value
            covered = value
    assert covered > 0


def test_intents_in_the_ring_when_published_then_equal_the_journal_line_for_line(make_stage):
    stage = make_stage()
    _publish(stage, 1000, seed=35)
    stage._tick_batch()
    ring = stage.intents.ring
    rows = ring.slots[1:ring.published + 1]
    with JournalReader(stage.journal.path) as reader:
        journaled = list(reader.read_from(1))
    assert len(journaled) == ring.published > 0
    assert [intentring.to_message(row) for row in rows] == journaled


def test_idle_loop_after_a_restart_then_publishes_leftover_intents_and_watermarks_only_the_commit(
    make_stage,
):
    # A previous life applied ticks 1..200 (their intents are in the outbox) but died before it sent
    # them or committed the ring cursor: the ticks are published and not yet read by this life.
    stage = make_stage()
    _publish(stage, 200, seed=33)
    rows = interleaved_ticks(200, 4, seed=33)
    rows["seq"] = np.arange(1, 201)
    consumed, raised = stage.engine.process(rows[:20])
    assert consumed == 20 and raised > 0
    stage.reader.wait = lambda timeout_s: False       # the idle path: nothing new in 50 ms
    assert stage._tick_batch() == 0
    assert sum(k == "intent" for k, _ in stage.intents.sent) == raised
    assert stage.engine.outbox.pending_count == 0
    assert [v for k, v in stage.intents.sent if k == "mark"] == [1]   # the committed cursor


def test_drain_when_the_feed_has_stopped_then_applies_everything_and_ends_on_the_committed_cursor(
    make_stage,
):
    stage = make_stage()
    _publish(stage, BATCH + 500, seed=34)
    stage.drain()
    sent = stage.intents.sent
    assert _late_intents(sent) == []
    assert sent[-1] == ("mark", BATCH + 501)
    assert stage.reader.committed == BATCH + 501 and stage.engine.outbox.pending_count == 0
    assert stage.rt.counts["ticks"] == BATCH + 500
    assert (
        stage.rt.counts["intents"]
        == sum(k == "intent" for k, _ in sent)
        == stage.intents.ring.published
    )


def test_full_intent_ring_when_orders_makes_room_slowly_then_signals_waits_and_drops_nothing(
    make_stage,
):
    stage = make_stage(capacity=8)
    orders = intentring.IntentReader(stage.intents.ring)
    taken = []

    def orders_takes_two():        # orders reads a little, handles it, commits: room for two more
        orders.watermark()
        taken.extend(int(seq) for seq in orders.read()[:2]["journal_seq"])
        orders.commit(1 << 40)

    orders.buf = np.zeros(2, intentring.INTENT_RECORD_DTYPE)
    stage.rt.on_beat = orders_takes_two
    try:
        _publish(stage, 600, seed=36)
        assert stage._tick_batch() == 600
        while stage.intents.ring.published > orders.reader.cursor - 1:
            orders_takes_two()
    finally:
        orders.close()
    assert stage.rt.counts["ring_full_waits"] > 0 and stage.rt.beats > 0
    assert taken == list(range(1, stage.seq + 1)) and stage.seq == stage.rt.counts["intents"] > 8
    assert _late_intents(stage.intents.sent) == []


class Killed(Exception):
    """SIGKILL, in process: nothing after the point where it is raised happens."""


def _killed():
    raise Killed


def test_killed_while_the_intent_ring_is_full_then_nothing_is_committed_and_the_next_life_publishes_the_rest(  # noqa: E501 - the name is the test's sentence
    make_stage,
):
    stage = make_stage(capacity=8)
    stage.rt.on_beat = _killed                            # dies while it waits for room
    _publish(stage, 600, seed=37)
    with pytest.raises(Killed):
        stage._tick_batch()
    assert stage.reader.committed == 1                    # the batch is read again by the next life
    ring = stage.intents.ring
    assert ring.published == 8 and stage.seq > 8
    # never covers them
    assert stage.intents.watermark <= min(m.tick_seq for m in stage.intents.backlog)
    # The next life: the journal's tail beyond the ring goes out first, nothing is journaled twice.
    stage.intents.close()
    nxt = intentring.IntentWriter(ring)
    with JournalReader(stage.journal.path) as reader:
        journal = list(reader.read_from(1))
    assert (
        nxt.resume(stage.seq, lambda first: [m for m in journal if m.seq >= first]) == stage.seq - 8
    )
    assert [m.seq for m in nxt.backlog] == list(range(9, stage.seq + 1))
    stage.intents = nxt
