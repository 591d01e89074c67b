"""The signals stage: ticks from the ring → strategies (numba) → intents, journaled, then pushed.

The only stage that busy-spins (on a core of its own; it yields instead when it has to share one).
Per batch: read ticks (one numba call), apply every strategy (one numba call each), journal and push
the intents the batch raised followed at once by a `TicksProcessed` watermark that tells `orders`
every intent for ticks before it has been sent (orders applies ticks and intents in one deterministic
order because of it), then commit the ring cursor. Without intents a plain watermark goes at most
every millisecond. When the outbox cannot take a whole batch's intents the engine is called several
times per batch; each watermark then covers exactly the ticks every strategy has applied and whose
intents went out, never the rest of the batch (a watermark is never more than that or the committed
cursor, so it never runs ahead of an intent).

Crash safety: indicator state and the intent outbox live in shared memory (signals/state.py,
signals/outbox.py). Intents are acknowledged in the outbox only after they are journaled and sent, so
a SIGKILL anywhere re-sends at most a few intents, which orders drops by their deterministic id.
"""

from __future__ import annotations

import os

import numpy as np
import orjson

from common import rundir, topics
from common.bus import Pusher, make_context
from common.clock import mono_ns
from common.dtypes import TICK_DTYPE
from common.instruments import InstrumentTable
from common.journal import JournalReader, JournalWriter
from common.latency import new_histogram, publish, record, record_since, summary_ns
from common.latency import warm as latency_warm
from common.log import get_logger
from common.messages import SignalRaised, TicksProcessed
from common.ringbuffer import RingReader, ShmRing
from common.shm import attach_segment
from common.stage import StageRuntime, run_stage
from common.waits import BusySpinWait, YieldingWait
from signals.engine import SignalEngine

BATCH = 4096
WATERMARK_EVERY_NS = 1_000_000    # a plain watermark at most every 1 ms (with intents: at once)
RECENT_IDS = 8192                 # journal tail checked for intents already sent before a crash


class SignalsStage:
    def __init__(self, ctx, rt: StageRuntime):
        self.ctx, self.rt = ctx, rt
        self.log = get_logger("signals")
        self.ring = ShmRing.attach(ctx.ring)
        wait = BusySpinWait() if ctx.exclusive_cores else YieldingWait()
        self.reader = RingReader(self.ring, "signals", wait=wait)
        self.instruments = InstrumentTable.attach(ctx.instruments_segment)
        self.state_seg = attach_segment(ctx.segments["signals_state"])
        self.outbox_seg = attach_segment(ctx.segments["signals_outbox"])
        self.engine = SignalEngine(ctx.config, self.instruments.rows, self.state_seg.buf, self.outbox_seg.buf)
        path = os.path.join(ctx.run_dir, rundir.SIGNALS_JOURNAL)
        self.journal = JournalWriter(path, ctx.config.journal.fsync)
        self.seq = self.journal.last_seq
        self.recent = self._recent_ids(path)
        self._init_loop()

    def _init_loop(self) -> None:
        """This process's loop state: the batch buffer, the histograms, the watermark bookkeeping."""
        self.buf = np.zeros(BATCH, dtype=TICK_DTYPE)
        self.hist_tick = new_histogram()     # tick received → applied by every strategy
        self.hist_intent = new_histogram()   # tick received → intent handed to the bus
        self._last_wm_ns = 0
        self._last_wm_upto = 0
        self._next_report = 0

    def _recent_ids(self, path: str) -> set:
        """Intent ids journaled just before a crash: the outbox may still hold them unacknowledged."""
        with JournalReader(path) as reader:
            return {m.intent_id for m in reader.read_from(max(1, self.seq - RECENT_IDS))}

    def start(self) -> None:
        self.zmq = make_context(io_cores=self.ctx.io_cores)
        self.push = Pusher(self.zmq, self.ctx.endpoints[topics.CMD_ORDERS], "signals")
        self.engine.warm()
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
            self._send_intents()          # after a restart the outbox may hold intents and no tick comes
            self._maybe_watermark(force=False)
            return 0
        n = self.reader.read_batch(self.buf)
        rows = self.buf[:n]
        while len(rows):
            consumed, _ = self.engine.process(rows)
            # Every strategy has applied rows[:consumed] and their intents are about to be sent:
            # the watermark that follows them may cover those ticks at once, before the commit, so
            # orders can act on the intent's own tick now rather than at the next 1 ms watermark.
            # (A crash before the commit replays those ticks; their intents come again with the
            # same ids and orders drops them.)
            self._send_intents(upto=int(rows[consumed - 1]["seq"]) + 1 if consumed else 0)
            rows = rows[consumed:]
        record_since(self.hist_tick, self.buf["ts_recv_ns"][:n], mono_ns())
        self.reader.commit()
        self.rt.count("ticks", n)
        self._maybe_watermark(force=False)
        return n

    def _send_intents(self, upto: int = 0) -> int:
        if self.engine.outbox.pending_count == 0:     # the common case: skip building an empty copy
            return 0
        pending = self.engine.pending_intents()
        if len(pending) == 0:
            return 0
        sent = []
        for row in pending:
            fields = self.engine.intent_fields(row)
            if fields["intent_id"] in self.recent:    # journaled by the previous life, not yet acked
                self.recent.discard(fields["intent_id"])
                continue
            self.seq += 1
            msg = SignalRaised(source="signals", seq=self.seq, **fields)
            self.journal.append(msg)
            sent.append(msg)
        self.journal.flush()          # durable before anyone can act on it
        now = mono_ns()
        for msg in sent:
            if not self.push.send(msg):
                self.rt.count("send_drops")   # orders catches up from the journal
            record(self.hist_intent, now - msg.ts_recv_ns)
        self.engine.ack(len(pending))
        self.rt.count("intents", len(sent))
        self.rt.count("journal_records", len(sent))
        self._maybe_watermark(force=True, upto=upto)
        return len(sent)

    def _maybe_watermark(self, force: bool, upto: int = 0) -> None:
        """Tell orders it may apply ticks below `upto` (at least the committed cursor).

        Never the reader's uncommitted cursor: mid-batch it is the end of the whole batch, whose
        later ticks no strategy has applied yet, and orders would act on them before their intents.
        """
        upto = max(upto, self.reader.committed, self._last_wm_upto)
        now = mono_ns()
        if upto == self._last_wm_upto and not force:
            return
        if not force and now - self._last_wm_ns < WATERMARK_EVERY_NS:
            return
        self.push.send(TicksProcessed(source="signals", seq=self.seq, ts_event_ns=0, upto_seq=upto,
                                      intents_sent=self.seq))
        self._last_wm_ns, self._last_wm_upto = now, upto

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
        doc = {"tick_to_signal": summary_ns(self.hist_tick), "tick_to_intent": summary_ns(self.hist_intent),
               "strategies": self.engine.stats()}
        with open(os.path.join(self.ctx.run_dir, rundir.stage_summary("signals")), "wb") as f:
            f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))

    def close(self) -> None:
        self.engine.release()
        self.journal.close()
        if hasattr(self, "push"):
            self.push.close()
            self.zmq.term()
        self.reader.close()
        for closer in (self.ring.close, self.instruments.close, self.state_seg.close, self.outbox_seg.close):
            closer()


def run(ctx) -> int:
    return run_stage(ctx, SignalsStage)
