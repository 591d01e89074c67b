"""The signals stage's watermark never covers a tick whose intents have not all been sent.

`TicksProcessed(upto_seq=u)` tells orders it may apply every tick below u: all of their intents are
already on the wire. These tests drive the stage's own batch loop in process, over a real tick ring
(shared memory, this process only), a real journal and the real engine, with a pusher that records
what it is handed, in order.
"""

from collections import Counter

import numpy as np
import pytest

from common.dtypes import TICK_DTYPE
from common.journal import JournalWriter
from common.messages import SignalRaised, TicksProcessed
from common.ringbuffer import RingReader, RingWriter, ShmRing
from common.waits import YieldingWait
from config.schema import StrategyConfig
from signals.stage import BATCH, SignalsStage
from tests.signals.synthetic import interleaved_ticks, make_config, make_engine
from tests.support import unique_segment

SMALL_OUTBOX = 64   # two strategies: at most 32 ticks per engine call, so one batch takes many calls


class RecordingPusher:
    """Stands in for common.bus.Pusher: keeps every message in the order the stage sent it."""

    def __init__(self):
        self.sent = []

    def send(self, msg) -> bool:
        self.sent.append(msg)
        return True


class CountingRuntime:
    """Stands in for common.stage.StageRuntime: the counters the batch loop bumps."""

    def __init__(self):
        self.counts = Counter()

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n


def _two_busy_strategies():
    return make_config(
        StrategyConfig(name="mac", kind="ma_crossover", params={"fast": 2, "slow": 3, "ma": "sma"}),
        StrategyConfig(name="vwr", kind="vwap_revert", params={"band_pct": 0.05, "min_session_ticks": 2}),
    )


@pytest.fixture
def stage(tmp_path):
    """A SignalsStage wired to an in-process ring, a journal in tmp_path and a recording pusher."""
    ring = ShmRing.create(unique_segment("ring"), 2 * BATCH, TICK_DTYPE, readers=[("signals", False)])
    stage = object.__new__(SignalsStage)
    stage.engine = None
    try:
        stage.journal = JournalWriter(str(tmp_path / "signals.jsonl"), "never")
        stage.engine, _ = make_engine(_two_busy_strategies(), outbox_capacity=SMALL_OUTBOX)
        stage.reader = RingReader(ring, "signals", wait=YieldingWait())
        stage.push, stage.rt = RecordingPusher(), CountingRuntime()
        stage.seq, stage.recent = stage.journal.last_seq, set()
        stage._init_loop()
        stage.writer = RingWriter(ring)
        yield stage
    finally:
        if stage.engine is not None:
            stage.engine.release()
            stage.journal.close()
            stage.reader.close()
        ring.close()
        ring.unlink()


def _publish(stage, n: int, seed: int) -> None:
    rows = interleaved_ticks(n, 4, seed=seed)
    assert stage.writer.write_batch(rows) == n


def _late_intents(sent) -> list[tuple[int, int]]:
    """(intent tick_seq, watermark before it) for every intent a watermark already covered."""
    late, covered = [], 0
    for msg in sent:
        if isinstance(msg, TicksProcessed):
            covered = max(covered, msg.upto_seq)
        elif isinstance(msg, SignalRaised) and msg.tick_seq < covered:
            late.append((msg.tick_seq, covered))
    return late


def test_watermark_when_the_outbox_splits_a_batch_then_never_covers_an_unsent_intent(stage):
    _publish(stage, BATCH, seed=31)
    assert stage._tick_batch() == BATCH
    sent = stage.push.sent
    intents = [m for m in sent if isinstance(m, SignalRaised)]
    marks = [m.upto_seq for m in sent if isinstance(m, TicksProcessed)]
    assert len(intents) > 4 * SMALL_OUTBOX, "the outbox must overflow several times in the batch"
    assert len(marks) > 4, "the batch must have been cut into several engine calls"
    assert _late_intents(sent) == []
    assert marks == sorted(marks) and marks[-1] == BATCH + 1
    assert stage.reader.committed == BATCH + 1


def test_watermark_mid_batch_then_is_the_end_of_the_ticks_whose_intents_went_out(stage):
    _publish(stage, BATCH, seed=32)
    stage._tick_batch()
    covered = 0
    for msg in stage.push.sent:
        if isinstance(msg, SignalRaised):
            last_intent = msg.tick_seq
        elif msg.upto_seq < BATCH + 1:   # mid-batch: right after the intents of the ticks it covers
            assert covered < msg.upto_seq and last_intent < msg.upto_seq
            covered = msg.upto_seq
    assert covered > 0


def test_idle_loop_after_a_restart_then_sends_leftover_intents_and_watermarks_only_the_commit(stage):
    # A previous life applied ticks 1..200 (their intents are in the outbox) but died before it sent
    # them or committed the ring cursor: the ticks are published and not yet read by this life.
    _publish(stage, 200, seed=33)
    rows = interleaved_ticks(200, 4, seed=33)
    rows["seq"] = np.arange(1, 201)
    consumed, raised = stage.engine.process(rows[:20])
    assert consumed == 20 and raised > 0
    stage.reader.wait = lambda timeout_s: False       # the idle path: nothing new in 50 ms
    assert stage._tick_batch() == 0
    intents = [m for m in stage.push.sent if isinstance(m, SignalRaised)]
    marks = [m.upto_seq for m in stage.push.sent if isinstance(m, TicksProcessed)]
    assert len(intents) == raised and stage.engine.outbox.pending_count == 0
    assert marks == [1]                                # the committed cursor, nothing read yet


def test_drain_when_the_feed_has_stopped_then_applies_everything_and_ends_on_the_committed_cursor(stage):
    _publish(stage, BATCH + 500, seed=34)
    stage.drain()
    sent = stage.push.sent
    marks = [m.upto_seq for m in sent if isinstance(m, TicksProcessed)]
    assert _late_intents(sent) == []
    assert isinstance(sent[-1], TicksProcessed) and marks[-1] == BATCH + 501
    assert stage.reader.committed == BATCH + 501 and stage.engine.outbox.pending_count == 0
    assert stage.rt.counts["ticks"] == BATCH + 500
    assert stage.rt.counts["intents"] == sum(isinstance(m, SignalRaised) for m in sent)
