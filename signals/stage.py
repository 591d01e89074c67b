"""The signals stage: ticks from the ring → strategies (numba) → intents, journaled, then published
to orders.

By default the only stage that busy-spins (on a core of its own; it yields instead when it has to
share one); `stages.signals.wait` can make it block instead (config/placement.py).
Per batch: read ticks (one numba call), apply every strategy (one numba call each), journal the
intents the batch raised, publish them to the intent ring (common/intentring.py: shared memory, an
eventfd doorbell for a sleeping orders), then raise the ring's watermark, the published tick
sequence that tells orders every intent for ticks below it is already in the ring (orders applies
ticks and intents in one deterministic order because of it), then commit the tick ring cursor.
Without intents a sleeping orders is woken for the watermark at most every millisecond. When the
outbox cannot take a whole batch's intents the engine is called several times per batch; each
watermark then covers exactly the ticks every strategy has applied and whose intents are published,
never the rest of the batch (a watermark is never more than that or the committed cursor, so it
never runs ahead of an intent). A full intent ring (orders behind) makes this stage wait,
heartbeating: an intent is never dropped, and the watermark waits with it.

Crash safety: indicator state and the intent outbox live in shared memory (signals/state.py,
signals/outbox.py). Intents leave the outbox only after they are journaled; the journal is flushed
before they are published, and a restarted stage publishes what its journal has beyond the intent
ring (IntentWriter.resume). So a SIGKILL anywhere publishes at most a few intents twice, which
orders drops by their journal seq and deterministic id, and never loses one.
"""

from __future__ import annotations

import os

import numpy as np
import orjson

from common import intentring, rundir
from common.clock import mono_ns
from common.dtypes import TICK_DTYPE
from common.errors import RingError
from common.instruments import InstrumentTable
from common.journal import JournalReader, JournalWriter
from common.latency import new_histogram, publish, record, record_since, summary_ns
from common.latency import warm as latency_warm
from common.log import get_logger
from common.messages import SignalRaised
from common.ringbuffer import RingReader, ShmRing
from common.shm import attach_segment
from common.stage import StageRuntime, run_stage
from common.waits import tick_wait
from config.placement import wait_mode
from signals.engine import SignalEngine

BATCH = 4096
# a plain watermark wakes orders at most every 1 ms (with intents: at once)
WATERMARK_EVERY_NS = 1_000_000
RECENT_IDS = 8192                 # journal tail checked for intents already sent before a crash


class SignalsStage:
    def __init__(self, ctx, rt: StageRuntime):
        self.ctx, self.rt = ctx, rt
        self.log = get_logger("signals")
        self.ring = ShmRing.attach(ctx.ring)
        # spin alone on a core, yield on a shared one (auto), or block: stages.signals.wait
        self.reader = RingReader(self.ring, "signals", wait=tick_wait(wait_mode(ctx)))
        self.instruments = InstrumentTable.attach(ctx.instruments_segment)
        self.state_seg = attach_segment(ctx.segments["signals_state"])
        self.outbox_seg = attach_segment(ctx.segments["signals_outbox"])
        self.engine = SignalEngine(
            ctx.config, self.instruments.rows, self.state_seg.buf, self.outbox_seg.buf
        )
        path = os.path.join(ctx.run_dir, rundir.SIGNALS_JOURNAL)
        self.journal = JournalWriter(path, ctx.config.journal.fsync)
        self.seq = self.journal.last_seq
        self.recent = self._recent_ids(path)
        self.intent_ring = ShmRing.attach(ctx.intent_ring)
        intentring.prefault(self.intent_ring)
        self.intents = intentring.IntentWriter(self.intent_ring)
        # _publish_backlog's no-deadlock rule
        if self.intent_ring.capacity < 2 * self.engine.outbox.capacity:
            raise RingError(
                f"intent ring holds {self.intent_ring.capacity} intents, fewer than twice what one "
                f"engine call may raise ({self.engine.outbox.capacity})"
            )
        intentring.check_texts(
            self.engine.strategy_names,
            [run.section.cls.REASONS for run in self.engine.runs],
            self.engine.symbols,
        )
        # Killed between the journal's flush and the ring's publish: the journal's tail goes out
        # first.
        self.intents.resume(self.seq, lambda first: _read_journal(path, first))
        self._init_loop()

    def _init_loop(self) -> None:
        """This process's loop state: the batch buffer, the histograms, the report clock."""
        self.buf = np.zeros(BATCH, dtype=TICK_DTYPE)
        self.hist_tick = new_histogram()     # tick received → applied by every strategy
        self.hist_intent = new_histogram()   # tick received → intent published to the intent ring
        self._next_report = 0

    def _recent_ids(self, path: str) -> set:
        """Intent ids journaled just before a crash: the outbox may still hold them
        unacknowledged."""
        with JournalReader(path) as reader:
            recent = reader.read_from(max(1, self.seq - RECENT_IDS))
            return {m.intent_id for m in recent if isinstance(m, SignalRaised)}   # all it journals

    def start(self) -> None:
        self.engine.warm()
        self.intents.warm()
        latency_warm()

    # -- per batch -----------------------------------------------------------------------------
    def step(self) -> bool:
        self._tick_batch()
        if (now := mono_ns()) >= self._next_report:      # stage-table figures ten times a second
            self.report()
            self._next_report = now + 100_000_000
        return True

    def _tick_batch(self) -> int:
        if not self.reader.wait(0.05):
            # after a restart the outbox or the journal may hold intents
            self._send_intents()
            self._maybe_watermark(force=False)
            return 0
        n = self.reader.read_batch(self.buf)
        rows = self.buf[:n]
        while len(rows):
            consumed, _ = self.engine.process(rows)
            # Every strategy has applied rows[:consumed] and their intents are about to be
            # published: the watermark that follows them may cover those ticks at once, before the
            # commit, so orders can act on the intent's own tick now rather than at the next plain
            # watermark. (A crash before the commit replays those ticks; their intents come again
            # with the same ids and orders drops them.)
            self._send_intents(upto=int(rows[consumed - 1]["seq"]) + 1 if consumed else 0)
            rows = rows[consumed:]
        record_since(self.hist_tick, self.buf["ts_recv_ns"][:n], mono_ns())
        self.reader.commit()
        self.rt.count("ticks", n)
        self._maybe_watermark(force=False)
        return n

    def _send_intents(self, upto: int = 0) -> None:
        """Journal the outbox's intents, publish them (and any backlog), then the watermark
        `upto`."""
        sent = self._journal_pending() if self.engine.outbox.pending_count else []
        if self.intents.backlog:
            self._publish_backlog()
        if sent:
            now = mono_ns()
            for msg in sent:
                record(self.hist_intent, now - msg.ts_recv_ns)
            self._maybe_watermark(force=True, upto=upto)

    def _journal_pending(self) -> list:
        pending = self.engine.pending_intents()
        sent = []
        for row in pending:
            fields = self.engine.intent_fields(row)
            # journaled by the previous life (resume has it)
            if fields["intent_id"] in self.recent:
                self.recent.discard(fields["intent_id"])
                continue
            self.seq += 1
            msg = SignalRaised(source="signals", seq=self.seq, **fields)
            self.journal.append(msg)
            sent.append(msg)
        self.journal.flush()          # durable before anyone can act on it
        # Journaled: the outbox may let go of them; until they are in the ring the backlog holds
        # them, and after a crash the journal does (IntentWriter.resume).
        self.engine.ack(len(pending))
        self.intents.backlog.extend(sent)
        self.rt.count("intents", len(sent))
        self.rt.count("journal_records", len(sent))
        return sent

    def _publish_backlog(self) -> None:
        """Publish the backlog; while the ring is full (orders behind, or restarting) wait for room.

        Never drops an intent, and never goes on to later ticks first (their intents would overtake
        these). The wait cannot deadlock: orders frees a slot as soon as it has applied the intent's
        tick, and the watermark covers every tick of intents already in the ring except those of the
        current engine call and, just after a restart, of the journal's tail: at most two outboxes'
        worth, which the ring holds (see __init__).
        While the stage stops (drain) the wait counts as progress whenever orders makes room; a
        SIGKILL of the stop ladder mid-wait loses nothing (the journal has the backlog).
        """
        if self.intents.flush():
            return
        self.rt.count("ring_full_waits")
        while True:
            before = len(self.intents.backlog)
            if self.intents.flush():
                return
            if len(self.intents.backlog) < before and self.rt.should_stop:
                self.rt.progress()
            else:
                self.rt.beat()
            os.sched_yield()          # orders makes the room: give it the core if we share one

    def _maybe_watermark(self, force: bool, upto: int = 0) -> None:
        """Tell orders it may apply ticks below `upto` (at least the committed cursor).

        Never the reader's uncommitted cursor: mid-batch it is the end of the whole batch, whose
        later ticks no strategy has applied yet, and orders would act on them before their intents.
        Never while intents wait in the backlog: it would cover them before they are in the ring.
        """
        if self.intents.backlog:
            return
        self.intents.advance(max(upto, self.reader.committed), mono_ns(), force, WATERMARK_EVERY_NS)

    def report(self) -> None:
        publish(self.hist_tick, self.rt.lat_ns)
        self.rt.set_count("overruns", self.reader.overruns)
        self.rt.row["lag"] = self.reader.lag
        stats = self.engine.stats()
        self.rt.set_count("skipped_replayed", sum(s.get("replayed", 0) for s in stats.values()))

    def finish(self) -> None:
        self.drain()
        self.report()
        self.write_summary()

    def drain(self) -> None:
        """At stop: apply everything already published (the feed stopped first), final watermark."""
        while self.reader.available() > 0:
            self._tick_batch()
        self._send_intents()
        self._maybe_watermark(force=True)

    def write_summary(self) -> None:
        doc = {
            "tick_to_signal": summary_ns(self.hist_tick),
            "tick_to_intent": summary_ns(self.hist_intent),
            "strategies": self.engine.stats(),
        }
        with open(os.path.join(self.ctx.run_dir, rundir.stage_summary("signals")), "wb") as f:
            f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))

    def close(self) -> None:
        self.engine.release()
        self.journal.close()
        self.intents.close()
        self.reader.close()
        for closer in (
            self.ring.close,
            self.intent_ring.close,
            self.instruments.close,
            self.state_seg.close,
            self.outbox_seg.close,
        ):
            closer()


def _read_journal(path: str, first: int) -> list:
    with JournalReader(path) as reader:
        return list(reader.read_from(first))


def run(ctx) -> int:
    return run_stage(ctx, SignalsStage)
