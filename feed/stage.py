"""The feed stage: one tick source → the shared-memory tick ring (the ring's only writer).

Loop: read a batch from the source (blocking up to 100 ms), publish it, record it if asked, beat.
In lossless (replay) mode publishing can wait for slow consumers; it does so in bounded slices so
the stage keeps heartbeating and can still be stopped. A finite source that ends marks the stage
FINISHED, which tells the supervisor to drain and stop the pipeline; one that ends before a single
tick got through is an error (a replay file with nothing usable in it), not a finished run.

Every batch, whatever its source, passes the tick sanity filter (feed/sanity.py) on its way to the
ring: prices far from the last good one, outside the circuit limits, or timestamps far ahead of the
feed's clock are dropped and counted by reason in the stage's counters (status, /health, summary).

A restarted feed resumes a deterministic source (sim, replay) by re-reading and re-screening, as
fast as it can, the ticks its earlier life published: the filter's state (last good prices, the
recording's clock) is then exactly the dead one's, and the next tick published is exactly the one it
would have published next. A live source simply reconnects; its filter starts afresh.

A live source whose socket also carries the user's order updates (Kite) hands them over through
`order_updates()`; the stage publishes each as a BrokerOrderUpdate on its own PUB socket (topic
`evt.broker.order.<source>`), for orders, which owns order state. With an Upstox broker the updates
come by a socket of their own (Upstox's portfolio stream, feed/sources/upstox/orderstream.py), which
the stage opens beside whatever tick source it reads. Only a stage with such updates gets a zmq
context: a sim or replay feed for the paper broker keeps its core to itself.
"""

from __future__ import annotations

import numpy as np
import zmq

from common import topics
from common.bus import Publisher, make_context
from common.clock import mono_ns
from common.dtypes import TICK_DTYPE
from common.errors import StageError
from common.instruments import InstrumentTable
from common.log import get_logger
from common.messages import BrokerOrderUpdate
from common.ringbuffer import RingWriter, ShmRing
from common.stage import StageRuntime, run_stage
from config.replaycheck import ReplayFileError
from feed.replayfile import CsvAppender
from feed.sanity import TickSanity, drop_counters
from feed.sanity import warm as warm_sanity
from feed.sources import make_order_source, make_source
from feed.sources.base import EndOfFeed

BATCH = 1024
CATCH_UP_BATCH = 16384
DROP_LOG_INTERVAL_NS = 1_000_000_000


class FeedStage:
    def __init__(self, ctx, rt: StageRuntime):
        self.ctx, self.rt = ctx, rt
        self.log = get_logger("feed")
        self.ring = ShmRing.attach(ctx.ring)
        self.writer = RingWriter(self.ring)
        self.instruments = InstrumentTable.attach(ctx.instruments_segment)
        self.source = make_source(ctx.config, ctx.secrets)
        self.buf = np.zeros(BATCH, dtype=TICK_DTYPE)
        self.sanity = TickSanity(
            ctx.config.feed.sanity,
            [i.ref_price for i in ctx.config.instruments],
            clock=self.source.clock,
            batch=CATCH_UP_BATCH,
        )
        self._ended = False
        self._drops_logged = (0, 0)   # (total logged, when)
        path = ctx.config.feed.record_path
        symbols = [self.instruments.symbol(i) for i in range(len(self.instruments))]
        self.recorder = CsvAppender(path, symbols) if path else None
        self.zmq: zmq.Context | None = None
        self.pub: Publisher | None = None
        self.order_source = make_order_source(ctx.config, ctx.secrets, self.source)

    def start(self) -> None:
        endpoint = self.ctx.endpoints.get(topics.PUB_FEED)
        if endpoint and self.order_source is not None:   # after pinning: StageRuntime.enter
            context = self.zmq = make_context()
            self.pub = Publisher(context, endpoint, "feed")
            if self.order_source is not self.source:
                self.order_source.open()
        warm_sanity(self.ctx.config.feed.sanity)
        delivered = self.writer.written   # ticks an earlier life of this stage already published
        if self.source.deterministic:
            self.source.open(self.instruments)
            self._catch_up(delivered)
        else:
            self.source.open(self.instruments, start_after=delivered)
        self.log.info("feed open", source=self.source.name, resume_after=delivered)

    def _catch_up(self, delivered: int) -> None:
        """Re-read and re-screen, unpaced, the `delivered` ticks an earlier life published.

        Never more rows at a time than are still to be skipped (the screen keeps at most what it
        reads), so not one tick past the restart point is read unpaced: the rest of a paced replay
        keeps its pace after a feed restart.
        """
        scratch = np.zeros(max(1, min(delivered, CATCH_UP_BATCH)), dtype=TICK_DTYPE)
        left = delivered
        self.source.pace(False)
        try:
            while left > 0:
                n = self.source.read(scratch[:min(left, len(scratch))], timeout_s=0.0)
                left -= self.sanity.screen(scratch[:n])
                self.rt.beat()
        except EndOfFeed:
            self.log.warning("feed source ended before the restart point", missing=left)
            self._ended = True
        finally:
            self.source.pace(True)

    def step(self) -> bool:
        """One batch; returns False when a finite source has ended."""
        try:
            if self._ended:
                raise EndOfFeed("ended during the catch-up")
            n = self.source.read(self.buf, timeout_s=0.1)
        except EndOfFeed as e:
            self._report()
            if self.writer.written == 0:
                raise self._nothing_usable() from None
            self.log.info("feed finished", why=str(e))
            return False
        if n:
            self._deliver(self.buf[:self.sanity.screen(self.buf[:n])])
        if self.pub is not None:
            self.rt.count("order_updates", forward_order_updates(self.order_source, self.pub))
        self._report()
        return True

    def _deliver(self, rows: np.ndarray) -> None:
        if len(rows):
            self._publish(rows)
            if self.recorder:
                self.recorder.append(rows)

    def _nothing_usable(self) -> Exception:
        drops = {r: c for r, c in self._drops().items() if c}
        if self.source.name == "replay":
            return ReplayFileError(
                self.source.path, f"no tick got through to the ring (dropped: {drops})"
            )
        return StageError(f"feed {self.source.name} ended without one tick (dropped: {drops})")

    def _drops(self) -> dict:
        """Every drop counter: the source's own, plus the sanity filter's."""
        return drop_counters(self.source.stats, self.sanity)

    def _publish(self, rows: np.ndarray) -> None:
        done = 0
        while done < len(rows):
            done += self.writer.write_batch(rows[done:], timeout_s=0.1)
            if done < len(rows):
                self.rt.count("write_timeouts")
                self.rt.beat()
                self.writer.heartbeat()
                if self.rt.should_stop:   # a stop drops the unpublished rest of this batch
                    return

    def _report(self) -> None:
        s = self.source.stats
        self.rt.set_count("ticks", self.writer.written)
        drops = self._drops()
        for name, value in drops.items():
            self.rt.set_count(name, value)
        self._log_drops(drops)
        self.rt.set_count("reconnects", s.reconnects)
        stream = self.order_source if self.order_source not in (None, self.source) else None
        self.rt.set_count("dropped_text", s.extra.get("unparsed_text", 0)
                          + (stream.stats.extra["unparsed_text"] if stream is not None else 0))
        self.writer.heartbeat()

    def _log_drops(self, drops: dict) -> None:
        """At most one line a second, and only when a count moved: never a line per tick."""
        total, when = sum(drops.values()), mono_ns()
        logged, at = self._drops_logged
        if total != logged and when - at >= DROP_LOG_INTERVAL_NS:
            self._drops_logged = (total, when)
            self.log.warning("ticks dropped", **drops)

    def finish(self) -> None:
        """Nothing in flight: every tick read was published before step() returned."""

    def close(self) -> None:
        self.source.close()
        if self.order_source not in (None, self.source):
            self.order_source.close()
        if self.pub is not None:
            self.pub.close()
        if self.zmq is not None:
            self.zmq.term()
        if self.recorder:
            self.recorder.close()
        self.writer.close()
        self.ring.close()
        self.instruments.close()


def forward_order_updates(source, pub: Publisher) -> int:
    """Publish the order updates `source` received since the last call; returns how many.

    Not journaled: a lost update costs only latency, since orders also polls the broker's order
    book.
    """
    broker = source.name
    updates = source.order_updates()
    for u in updates:
        pub.publish(topics.broker_order_topic(broker), BrokerOrderUpdate(
            ts_event_ns=u.ts_wall_ns, broker=broker, payload=u.payload, ts_recv_ns=u.ts_recv_ns))
    return len(updates)


def run(ctx) -> int:
    return run_stage(ctx, FeedStage)
