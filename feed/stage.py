"""The feed stage: one tick source → the shared-memory tick ring (the ring's only writer).

Loop: read a batch from the source (blocking up to 100 ms), publish it, record it if asked, beat.
In lossless (replay) mode publishing can wait for slow consumers; it does so in bounded slices so the
stage keeps heartbeating and can still be stopped. A finite source that ends marks the stage FINISHED,
which tells the supervisor to drain and stop the pipeline.

A live source whose socket also carries the user's order updates (Kite) hands them over through
`order_updates()`; the stage publishes each as a BrokerOrderUpdate on its own PUB socket (topic
`evt.broker.order.<source>`), for orders, which owns order state. Only such a source gets a zmq
context: a sim or replay feed keeps its core to itself.
"""

from __future__ import annotations

import numpy as np

from common import topics
from common.bus import Publisher, make_context
from common.dtypes import TICK_DTYPE
from common.instruments import InstrumentTable
from common.log import get_logger
from common.messages import BrokerOrderUpdate
from common.ringbuffer import RingWriter, ShmRing
from common.stage import StageRuntime, run_stage
from feed.replayfile import CsvAppender
from feed.sources import make_source
from feed.sources.base import EndOfFeed

BATCH = 1024


class FeedStage:
    def __init__(self, ctx, rt: StageRuntime):
        self.ctx, self.rt = ctx, rt
        self.log = get_logger("feed")
        self.ring = ShmRing.attach(ctx.ring)
        self.writer = RingWriter(self.ring)
        self.instruments = InstrumentTable.attach(ctx.instruments_segment)
        self.source = make_source(ctx.config, ctx.secrets)
        self.buf = np.zeros(BATCH, dtype=TICK_DTYPE)
        path = ctx.config.feed.record_path
        symbols = [self.instruments.symbol(i) for i in range(len(self.instruments))]
        self.recorder = CsvAppender(path, symbols) if path else None
        self.zmq = self.pub = None

    def start(self) -> None:
        endpoint = self.ctx.endpoints.get(topics.PUB_FEED)
        if endpoint and hasattr(self.source, "order_updates"):   # after pinning: StageRuntime.enter
            self.zmq = make_context()
            self.pub = Publisher(self.zmq, endpoint, "feed")
        delivered = self.writer.next_seq - 1   # ticks an earlier life of this stage already published
        self.source.open(self.instruments, start_after=delivered)
        self.log.info("feed open", source=self.source.name, resume_after=delivered)

    def step(self) -> bool:
        """One batch; returns False when a finite source has ended."""
        try:
            n = self.source.read(self.buf, timeout_s=0.1)
        except EndOfFeed as e:
            self.log.info("feed finished", why=str(e))
            return False
        if n:
            self._publish(self.buf[:n])
            if self.recorder:
                self.recorder.append(self.buf[:n])
        if self.pub is not None:
            self.rt.count("order_updates", forward_order_updates(self.source, self.pub))
        self._report()
        return True

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
        self.rt.set_count("ticks", self.writer.next_seq - 1)
        self.rt.set_count("dropped_malformed", s.dropped_malformed)
        self.rt.set_count("dropped_unknown", s.dropped_unknown)
        self.rt.set_count("dropped_out_of_order", s.dropped_out_of_order)
        self.rt.set_count("reconnects", s.reconnects)
        self.rt.set_count("dropped_text", s.extra.get("unparsed_text", 0))
        self.writer.heartbeat()

    def finish(self) -> None:
        """Nothing in flight: every tick read was published before step() returned."""

    def close(self) -> None:
        self.source.close()
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

    Not journaled: a lost update costs only latency, since orders also polls the broker's order book.
    """
    broker = source.name
    updates = source.order_updates()
    for u in updates:
        pub.publish(topics.broker_order_topic(broker), BrokerOrderUpdate(
            ts_event_ns=u.ts_wall_ns, broker=broker, payload=u.payload, ts_recv_ns=u.ts_recv_ns))
    return len(updates)


def run(ctx) -> int:
    return run_stage(ctx, FeedStage)
