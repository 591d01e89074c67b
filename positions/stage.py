"""The positions stage: fills → positions and P&L, marked to market from the tick ring.

Fills are applied exactly once (by fill id) and strictly in the order of the orders journal: live
events arrive over ZeroMQ, and any gap in the orders stage's sequence (a restart on either side, a
slow-joiner subscription, a dropped message) is filled from `orders.jsonl` before going on. The ring
reader is non-gating: being lapped only costs mark-to-market freshness, never a fill.
Every `snapshot_interval_ms` the book is written to `positions.json` and published. The file is
replaced atomically (common/atomicfile.py: a reader never sees half of it, a failed write leaves the
previous one) and, when the run's journals are durable (`journal.fsync` other than "never", the
default with a live broker), fsync'd before the rename.
Restarts: with it, when fills were applied since the last one, a restorable snapshot of the book
goes to ctx.state (positions/snapshot.py); a start loads it and reads only the journal after it. A
snapshot it cannot trust is refused in the log (with why) and the whole journal re-read.
"""

from __future__ import annotations

import os
import time

import numpy as np
import orjson
from numba import njit

from common import rundir, topics
from common.atomicfile import write_atomic
from common.bus import Publisher, Pusher, Subscriber, make_context
from common.clock import mono_ns
from common.dtypes import TICK_DTYPE
from common.instruments import InstrumentTable
from common.journal import JournalReader
from common.log import get_logger
from common.messages import (BrokerPositions, OrderFilled, PositionChanged, PositionSnapshot,
                             RequestReconcile)
from common.poller import StagePoller
from common.ringbuffer import RingReader, ShmRing
from common.stage import StageRuntime, run_stage
from common.waits import BlockingWait
from positions import snapshot as book_snapshot
from positions.positionbook import PositionBook

BATCH = 4096


@njit(cache=True)
def last_prices_update(rows_price, rows_inst, last):
    """Latest price per instrument from a batch (later ticks win)."""
    for i in range(rows_price.shape[0]):
        last[rows_inst[i]] = rows_price[i]
    return rows_price.shape[0]


class PositionsStage:
    def __init__(self, ctx, rt: StageRuntime):
        self.ctx, self.rt = ctx, rt
        self.log = get_logger("positions")
        self.ring = ShmRing.attach(ctx.ring)
        self.reader = RingReader(self.ring, "positions", wait=BlockingWait())
        self.instruments = InstrumentTable.attach(ctx.instruments_segment)
        symbols = [self.instruments.symbol(i) for i in range(len(self.instruments))]
        self.book = PositionBook(symbols)
        self.last = np.zeros(len(symbols), dtype=np.float64)
        self.buf = np.zeros(BATCH, dtype=TICK_DTYPE)
        # the account day's
        self.journal = JournalReader(os.path.join(ctx.state, rundir.ORDERS_JOURNAL))
        self.last_orders_seq = 0
        self.snapshot_path = os.path.join(ctx.state, book_snapshot.SNAPSHOT_FILE)
        self._saved_seq = -1
        # How the last start built the book: "snapshot", "journal" (no snapshot) or "journal
        # (snapshot refused: why)"; logged at start.
        self.started_from = "journal"
        self.out_path = os.path.join(ctx.run_dir, rundir.POSITIONS)
        self.durable = ctx.config.journal.fsync != "never"
        self.interval_s = ctx.config.positions.snapshot_interval_ms / 1000.0
        self._next_snapshot = 0.0
        self._dirty = True
        self._want_reconcile = ctx.config.positions.reconcile_on_start
        self.last_reconcile: dict | None = None

    def start(self) -> None:
        self.zmq = make_context()
        self.events = Subscriber(self.zmq, self.ctx.endpoints[topics.PUB_ORDERS], [topics.EVT])
        self.pub = Publisher(self.zmq, self.ctx.endpoints[topics.PUB_POSITIONS], "positions")
        self.cmd = Pusher(self.zmq, self.ctx.endpoints[topics.CMD_ORDERS], "positions")
        # Fills wake us; prices are only marked to market, so the ring is drained on every wake-up
        # and at least every 100 ms instead of being woken by each tick (that would burn the shared
        # core).
        self.poller = StagePoller([self.events.socket])
        self.restore()
        self.catch_up()        # a restarted positions stage rebuilds its book from the journal
        self.drain_ticks()
        self.snapshot(force=True)

    # -- events --------------------------------------------------------------------------------
    def restore(self) -> None:
        """Start from the book's snapshot, if there is one it can trust (catch_up then reads only
        the journal after it); otherwise from an empty book and seq 0."""
        try:
            book = book_snapshot.load(self.snapshot_path, self.journal, self.book.symbols)
        except book_snapshot.SnapshotRefused as e:
            self.started_from = f"journal (snapshot refused: {e})"
            self.log.warning("book snapshot refused; re-reading the whole orders journal",
                             path=self.snapshot_path, reason=str(e))
            return
        if book is not None:
            self.book, self.last_orders_seq = book, self.journal.last_seq
            self._saved_seq = self.last_orders_seq
            self.started_from = "snapshot"
            self.log.info("book restored from its snapshot; reading the journal after it",
                          after_seq=self.last_orders_seq)

    def save_book(self) -> None:
        """Write the restorable snapshot when the book moved since the last one, and only once the
        journal holds every record it reflects (the socket may be ahead of orders' flush)."""
        if self.last_orders_seq == self._saved_seq:
            return
        self.catch_up()        # brings the reader to the journal's end: its position is the anchor
        if self.journal.last_seq != self.last_orders_seq:
            return             # not all in the journal yet: try again at the next snapshot
        try:
            book_snapshot.save(self.snapshot_path, self.book, self.journal, durable=self.durable)
        except OSError as e:
            # A full disk must not crash-loop the stage: the previous snapshot stays valid (an
            # older anchor only means a longer tail at the next start).
            self.log.warning("cannot write the book snapshot", path=self.snapshot_path,
                             error=str(e))
            return
        self._saved_seq = self.last_orders_seq

    def catch_up(self) -> None:
        """Apply every orders-journal record after the last one seen (the journal is the truth)."""
        for msg in self.journal.read_from(self.last_orders_seq + 1):
            self._apply(msg)

    def _apply(self, msg) -> None:
        if msg.seq <= self.last_orders_seq:
            return
        self.last_orders_seq = msg.seq
        if isinstance(msg, OrderFilled):
            if self.book.apply_fill(msg):
                self.rt.count("fills")
                self._dirty = True
            else:
                self.rt.count("duplicate_fills")

    def on_event(self, msg) -> None:
        if msg.source != "orders":
            return
        if isinstance(msg, BrokerPositions):   # a view, outside the journal's sequence
            self.reconcile(msg)
            return
        if msg.seq > self.last_orders_seq + 1:   # a gap: the journal has what the socket missed
            self.catch_up()
        self._apply(msg)

    def drain_events(self) -> None:
        while (item := self.events.recv_nowait()) is not None:
            self.on_event(item[1])

    def request_reconcile(self) -> None:
        """Ask orders for the broker's positions (retried each loop until orders is there to hear
        it)."""
        if self._want_reconcile and self.cmd.push(RequestReconcile(ts_event_ns=0)):
            self._want_reconcile = False

    def reconcile(self, broker: BrokerPositions) -> None:
        """Compare the book with the broker's net quantities, once the book has every fill up to
        it."""
        if self.last_orders_seq < broker.as_of_seq:
            self.catch_up()
        ours = {k: p.qty for k, p in self.book.positions.items() if p.qty}
        theirs = {p.instrument: p.qty for p in broker.positions if p.qty}
        diff = {self.book.symbols[k]: {"ours": ours.get(k, 0), "broker": theirs.get(k, 0)}
                for k in set(ours) | set(theirs) if ours.get(k, 0) != theirs.get(k, 0)}
        self.rt.count("reconciles")
        self.last_reconcile = {"as_of_seq": broker.as_of_seq, "ok": not diff, "mismatches": diff}
        if diff:
            self.rt.count("mismatches", len(diff))
            self.log.warning("positions differ from the broker's", mismatches=diff)
        self._dirty = True

    # -- ticks ---------------------------------------------------------------------------------
    def drain_ticks(self) -> int:
        total = 0
        while (n := self.reader.read_batch(self.buf)) > 0:
            last_prices_update(self.buf["price"][:n], self.buf["instrument"][:n], self.last)
            total += n
        if total:
            self.reader.commit()
            self.rt.count("ticks", total)
            self.rt.set_count("overruns", self.reader.overruns)
            self.rt.row["lag"] = self.reader.lag
            self._dirty = True
        return total

    # -- output --------------------------------------------------------------------------------
    def snapshot(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (now < self._next_snapshot or not self._dirty):
            return
        self._next_snapshot, self._dirty = now + self.interval_s, False
        self.save_book()
        self.book.mark(self.last)
        doc = self.book.as_dict()
        doc["last_orders_seq"] = self.last_orders_seq
        doc["last_reconcile"] = self.last_reconcile
        write_atomic(
            self.out_path, orjson.dumps(doc, option=orjson.OPT_INDENT_2), durable=self.durable
        )
        rows = [
            PositionChanged(
                ts_event_ns=0,
                instrument=p["instrument"],
                symbol=p["symbol"],
                qty=p["qty"],
                avg_price=p["avg_price"],
                realised_pnl_inr=p["realised_pnl_inr"],
                unrealised_pnl_inr=p["unrealised_pnl_inr"],
                last_price=p["last_price"],
            )
            for p in doc["positions"]
        ]
        self.pub.publish(
            topics.snapshot_topic("positions"),
            PositionSnapshot(
                ts_event_ns=0,
                positions=rows,
                realised_pnl_inr=doc["realised_pnl_inr"],
                unrealised_pnl_inr=doc["unrealised_pnl_inr"],
                gross_exposure_inr=doc["gross_exposure_inr"],
                last_fill_seq=self.last_orders_seq,
            ),
        )

    def step(self) -> None:
        t0 = mono_ns()
        ready = self.poller.wait(0.1)
        if self.events.socket in ready:
            self.drain_events()
        self.drain_ticks()
        self.request_reconcile()
        self.snapshot()
        self.rt.lat_ns[0] = mono_ns() - t0 if ready else self.rt.lat_ns[0]

    def finish(self) -> None:
        """At stop: everything the orders journal holds, every tick published, one final file."""
        self.drain_events()
        self.catch_up()
        self.drain_ticks()
        self.snapshot(force=True)

    def close(self) -> None:
        for name in ("events", "pub", "cmd"):
            if hasattr(self, name):
                getattr(self, name).close()
        if hasattr(self, "zmq"):
            self.zmq.term()
        for closer in (
            self.reader.close,
            self.ring.close,
            self.instruments.close,
            self.journal.close,
        ):
            closer()


def run(ctx) -> int:
    return run_stage(ctx, PositionsStage)
