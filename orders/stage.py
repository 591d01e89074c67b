"""The orders stage: intents + ticks → risk-checked bracket orders at the broker, exactly once.

Intents come from signals through the intent ring (common/intentring.py: shared memory, woken by its
eventfd doorbell), with its watermark, the published tick sequence; commands (`SetTradingState`,
`FlattenAll`, `RequestReconcile`) arrive on one PULL socket (topics.CMD_ORDERS) from the
supervisor: the operator's and its own halt alike (common/tradingstate.py). A `SetTradingState`
stamped at or below the last one applied is a stale or doubled delivery and is dropped; one applied
is acknowledged in `orders.trading_state.json` once its effect is journaled, and that record (state
and reason together) is the only place the supervisor reads our trading state from. Ticks come
from the tick ring. The engine (orders/engine.py) is a pure function of ticks and intents, so the
stage's one job is to hand it both in the same order however processes are scheduled: ticks are
applied only below the signals watermark, which guarantees every intent raised on them has already
arrived.

Durability: every event the engine emits is stamped, journaled to `orders.jsonl` (fills also to
`fills.jsonl`), written to the kernel, and only then published. Both live in `ctx.state`: the broker
account's trading day (supervision/accountday.py), which any later start that day resumes. A
missed intent (orders was down, a dropped message) is read back from `signals.jsonl`. A restart
rebuilds the engine from its journal, looks in-doubt orders up at the broker, and resumes at the
committed ring cursor with the market state saved beside it (orders/marketstore.py).

Order updates a live broker pushes reach its adapter through orders/pushedupdates.py.
"""

from __future__ import annotations

import os
import time

import numpy as np
import orjson

from common import intentring, rundir
from common import stagetable as st
from common import topics
from common.bus import Publisher, Puller, make_context
from common.clock import mono_ns
from common.dtypes import TICK_DTYPE
from common.instruments import InstrumentTable
from common.journal import JournalReader, JournalWriter
from common.latency import new_histogram, publish, record, summary_ns
from common.log import get_logger
from common.errors import BrokerError
from common.messages import (
    BrokerPositions,
    FlattenAll,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    OrderSubmitting,
    PositionChanged,
    RequestReconcile,
    SetTradingState,
    SignalRaised,
    TradingStateChanged,
)
from common.ringbuffer import RingReader, ShmRing
from common.shm import attach_segment
from common.tradingstate import TradingState, write_flatten_ack, write_state
from common.stage import StageRuntime, run_stage
from common.waits import BlockingWait, ring_poller
from config.placement import helper_cores, wait_mode
from orders.brokers import make_broker
from orders.engine import OrderEngine
from orders.marketstore import MarketStore
from orders.onstop import apply_stop_policy
from orders.pushedupdates import PushedUpdates
from orders.reconciler import Reconciler
from orders.recoveryhold import RecoveryHold
from orders.snapshot import Header
from orders.snapshotchild import SnapshotChild
from orders.snapshotrestart import load_at_start, save_after_long_tail

BATCH = 4096
DRAIN_BATCH = 512      # ticks per slice of the stop drain, each followed by a progress report
REPORT_EVERY_NS = 100_000_000   # the stage-table latency figures, refreshed ten times a second
# Signals gone this long (its restarts take milliseconds; this is a stage the supervisor gave up
# on): apply ticks without its watermark, so stops, targets and square-off still happen. Determinism
# across such an outage is lost, protection is not.
SIGNALS_SILENT_NS = 5_000_000_000

LIVE_FEEDS = ("kite", "upstox")     # feed sources whose ticks are the market as it happens


class OrdersStage:
    # The stamp of the last SetTradingState applied (its ts_event_ns; 0: none since this process
    # started, so the supervisor sends its standing halt again after a restart).
    command_ns = 0
    # (state, reason, ts_event_ns) last written to the record: what an acknowledgement rewrites
    shown_state: tuple[str, str, int] | None = None
    # A flatten arrived while recovery was held: our unknown orders at the broker are canceled once
    # recovery is done (the broker did not answer before).
    cancel_unknown_after_recovery = False
    # the process that keeps the engine's snapshot up to date (orders/snapshotchild.py); None
    # when journal.orders_snapshots is off
    snapshots: SnapshotChild | None = None

    def __init__(self, ctx, rt: StageRuntime):
        self.ctx, self.rt, cfg = ctx, rt, ctx.config
        self.log = get_logger("orders")
        self.ring = ShmRing.attach(ctx.ring)
        self.reader = RingReader(self.ring, "orders", wait=BlockingWait())
        self.intent_ring = ShmRing.attach(ctx.intent_ring)
        intentring.prefault(self.intent_ring)
        self.intents = intentring.IntentReader(self.intent_ring)   # resumes at its committed cursor
        self.intents_lost = self.intents.lost
        self.instruments = InstrumentTable.attach(ctx.instruments_segment)
        rows = self.instruments.rows
        self.market_seg = attach_segment(ctx.segments["orders_market"])
        self.market = MarketStore(self.market_seg.buf, len(rows))
        self.journal = JournalWriter(
            os.path.join(ctx.state, rundir.ORDERS_JOURNAL), cfg.journal.fsync
        )
        self.fills = JournalWriter(os.path.join(ctx.state, rundir.FILLS_JOURNAL), cfg.journal.fsync)
        self.signals_path = os.path.join(ctx.run_dir, rundir.SIGNALS_JOURNAL)
        self.broker = make_broker(cfg, ctx.secrets, self.instruments, ctx.state)
        # a wait for the broker, within its timeouts, is not a hang (a stop's flatten waits on it)
        self.broker.bound_calls(rt.blocked)
        self.engine = OrderEngine.from_config(cfg, rows, self.broker, self.emit, flush=self.flush)
        live = not self.broker.book_is_ours  # paper: checked on request only (its book is ours)
        self.reconciler = Reconciler(
            self.engine,
            self.broker,
            [s.decode() for s in rows["symbol"]],
            ctx.run_dir,
            interval_s=cfg.broker.reconcile_interval_s if live else 0.0,
            on_start=live,
            baseline_dir=ctx.state,
            log=self.log,
        )
        self.buf = np.zeros(BATCH, dtype=TICK_DTYPE)
        self.last_intent_seq = 0      # signals' journal seq of the last intent handed to the engine
        self.watermark = 1            # ticks with seq < watermark may be applied
        self.recv_ns: dict[str, int] = {}   # intent id -> its tick's receive time, for latency
        self.hist = new_histogram()   # tick received → order handed to the broker
        self._next_report = 0         # when the stage table's latency figures are next due
        self.pub: Publisher               # made in start(), once the stage has pinned itself
        self.updates: PushedUpdates | None = None   # a live broker's pushed order updates
        self.outgoing: list = []      # journaled events not yet published (see commit)
        self.hold = RecoveryHold(self.engine, self._show_trading_state, self.log)
        self.recovered_reason = ""    # the reason of the trading state the journal ends in

    # -- the engine's sink: durable first, then published ------------------------------------
    def emit(self, msg) -> None:
        """Journal (buffered) and queue for publishing; `flush` and `commit` make it durable and
        send it."""
        stamped = self.pub.stamp(msg)
        self.journal.append(stamped)
        if isinstance(stamped, OrderFilled):
            # fills.jsonl is a copy of the journal's fills, written second: recover() completes it.
            self.fills.append(stamped)
            self.rt.count("fills")
        self.outgoing.append(stamped)
        self._count(stamped)

    def flush(self) -> None:
        """Before every broker call (the engine calls it): the journal in the kernel."""
        self.journal.flush()

    def commit(self) -> None:
        """End of a piece of work: both journals in the kernel, then what they hold published.

        One write and one burst of sends per batch instead of one of each per event; a crash before
        the publish loses nothing, positions catches up from orders.jsonl by seq.
        """
        self.journal.flush()
        self.fills.flush()
        for msg in self.outgoing:
            self.pub.send(_topic(msg), msg)
        self.outgoing.clear()

    def _count(self, msg) -> None:
        if isinstance(msg, OrderSubmitting):
            self.rt.count("orders")
            recv = self.recv_ns.pop(msg.intent_id, 0) if msg.role == "ENTRY" else 0
            if recv:
                record(self.hist, mono_ns() - recv)
        elif isinstance(msg, OrderDenied):
            self.recv_ns.pop(msg.intent_id, None)
            self.rt.count("denials")
            self.log.info(
                "order denied", intent=msg.intent_id, symbol=msg.symbol, reason=msg.reason
            )
        elif isinstance(msg, OrderRejected):
            self.rt.count("rejections")
            self.log.warning(
                "order rejected", client_order_id=msg.client_order_id, reason=msg.reason
            )
        elif isinstance(msg, TradingStateChanged):
            self.log.warning("trading state changed", state=msg.state, reason=msg.reason)
            self._show_trading_state(msg.state, msg.reason, msg.ts_event_ns)

    def _show_trading_state(self, state: str, reason: str, ts_event_ns: int = 0) -> None:
        """For the supervisor's status (common/tradingstate.py): state and reason in one record,
        replaced atomically; the code in our row is a mirror for /health's counters."""
        self.shown_state = (state, reason, ts_event_ns)
        write_state(self.ctx.run_dir, state, reason, ts_event_ns, self.command_ns)
        self.rt.set_count("trading_state", int(TradingState[state]))

    # -- start ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.zmq = make_context(io_cores=helper_cores(self.ctx))
        self.pull = Puller(self.zmq, self.ctx.endpoints[topics.CMD_ORDERS])
        self.pub = Publisher(self.zmq, self.ctx.endpoints[topics.PUB_ORDERS], "orders",
                             next_seq=self.journal.last_seq + 1)
        # The intent ring's doorbell, not the tick ring's: ticks are applied only below the signals
        # watermark, so waking for every tick would only burn the shared core.
        # stages.orders.wait: spin polls the intent ring and sockets without sleeping (a core of its
        # own only, config/placement.py); block sleeps on the ring's doorbell and the sockets
        self.poller = ring_poller(wait_mode(self.ctx))([self.pull.socket], reader=self.intents)
        self.intents.warm()
        feed = self.ctx.endpoints.get(topics.PUB_FEED)
        if feed and self.broker.pushes_order_updates:
            self.updates = PushedUpdates(self.zmq, feed, self.broker, self.ctx.config.broker.name)
            self.poller.add(self.updates.socket)
        self.recover()
        self.commit()

    def recover(self) -> None:
        """Rebuild from the journals: our own events (those after the engine's snapshot when it
        has one that fits: orders/snapshot.py), then every intent signals journaled."""
        snapshots = self.ctx.config.journal.orders_snapshots
        with JournalReader(self.journal.path) as reader:
            loaded = self._load_snapshot(reader) if snapshots else None
            events = list(reader.read_from(reader.last_seq + 1))
            for msg in events:        # a crash between the two writes leaves fills.jsonl short
                if isinstance(msg, OrderFilled) and msg.seq > self.fills.last_seq:
                    self.fills.append(msg)
            self.fills.flush()
            self.engine.replay(events)
            if snapshots:             # a long tail is saved for the next restart, then the writer
                ctx = self.ctx
                self._start_writer(save_after_long_tail(
                    ctx.state, ctx.config, self.instruments.rows, self.engine, reader, events,
                    loaded, self.log))
        snapshot, cursor = self.market.load()
        # Every intent through this one is in our journal: catch_up_intents reads on from there.
        self.last_intent_seq = self.market.intents_through()
        self.engine.restore([], snapshot)      # the events are replayed: settle them
        last = next((m for m in reversed(events) if isinstance(m, TradingStateChanged)), None)
        self.recovered_reason = last.reason if last else self.engine.state_reason
        self._show_trading_state(self.engine.trading_state, self.recovered_reason)
        if self.finish_recovery() and events:
            self.log.info(
                "recovered",
                events=len(events),
                market_cursor=cursor,
                ring_cursor=self.reader.cursor,
                intents=self.last_intent_seq,
                trading_state=self.engine.trading_state,
            )

    def _load_snapshot(self, reader: JournalReader) -> Header | None:
        """The engine from its snapshot, `reader` just past it (or the whole journal, counted and
        logged with its reason: orders/snapshotrestart.py). Returns its header (None: none
        loaded)."""
        ctx = self.ctx
        loaded, refused = load_at_start(ctx.state, ctx.config, self.instruments.rows, self.engine,
                                        reader, self.fills.last_seq, self.log)
        if loaded is not None:
            self.rt.count("snapshot_loads")
        elif refused:
            self.rt.count("snapshot_refusals")
        return loaded

    def _start_writer(self, since_seq: int) -> None:
        """The writer that keeps the snapshot up to date, started by the loop once READY and the
        journal is a lead past `since_seq`, the snapshot on disk (orders/snapshotchild.py)."""
        self.snapshots = SnapshotChild.of_stage(self.ctx, self.journal.path,
                                                self.instruments.rows, self.log, since_seq)

    def finish_recovery(self) -> bool:
        """Settle the orders of unknown outcome at the broker (orders/recoveryhold.py: held, not
        crashed, while the broker cannot tell), then take the intents we missed. Until that is done
        no tick is applied and nothing is sent (step holds). Returns True once done."""
        if self.ctx.config.feed.source in LIVE_FEEDS:
            # The market went on while this process was down: the orders it must settle now are
            # decided on the market's clock, not the dead process's (an entry journaled just
            # before the cut-off and found never sent is not sent after it: orders/recovery.py).
            # A replay's market is its ticks: it waits for them, as the dead process would have.
            self.engine.advance_clock(time.time_ns())
        if not self.hold.settle(self.recovered_reason):
            return False
        if self.cancel_unknown_after_recovery:   # a flatten taken during the hold
            self.cancel_unknown_after_recovery = False
            self.reconciler.cancel_unknown()
        # read BEFORE the journal: all intents below it are in it
        signals_cursor = self._signals_cursor()
        self.catch_up_intents()
        self.watermark = max(self.watermark, signals_cursor)
        return True

    def intents_handled_through(self) -> int:
        """The signals-journal seq through which every intent taken is handled (journaled): all
        taken but those still waiting for their tick. Intents are taken in journal order (the ring
        publishes them in it, the catch-up reads on from the last one), so none below is missing."""
        first_pending = self.engine.first_pending_seq()
        return first_pending - 1 if first_pending else self.last_intent_seq

    def _signals_cursor(self) -> int:
        for info in self.ring.readers():
            if info.name == "signals":
                return int(info.cursor)
        return 1

    def catch_up_intents(self) -> None:
        if not os.path.exists(self.signals_path):
            return
        with JournalReader(self.signals_path) as reader:
            # what is below is handled (its records in our journal): not even read
            reader.skip_below(self.last_intent_seq + 1)
            intents = [
                m for m in reader.read_from(self.last_intent_seq + 1) if isinstance(m, SignalRaised)
            ]
        for msg in intents:
            self._take_intent(msg)

    def _take_intent(self, msg: SignalRaised) -> None:
        self.last_intent_seq = max(self.last_intent_seq, msg.seq)
        if self.engine.redelivered(msg):
            return
        self.recv_ns[msg.intent_id] = msg.ts_recv_ns
        self.rt.count("intents")
        self.engine.advance(self.buf[:0], [msg])     # queued until its tick is applied

    # -- the loop ------------------------------------------------------------------------------
    def on_message(self, msg) -> None:
        if isinstance(msg, SignalRaised):
            if msg.seq <= self.last_intent_seq:
                self.rt.count("duplicate_intents")
                return
            if msg.seq > self.last_intent_seq + 1:     # a gap: the journal has it
                self.catch_up_intents()
                if msg.seq <= self.last_intent_seq:
                    return
            self._take_intent(msg)
        elif isinstance(msg, SetTradingState):
            self.set_trading_state(msg)
        elif isinstance(msg, FlattenAll):
            # While recovery is held the journal's positions may be stale (the broker may have
            # filled or closed what it did not tell us yet): the flatten is journaled now and acts
            # on the first settle after recovery, when positions are the broker's again.
            held = bool(self.hold.error)
            self.engine.flatten_all(msg.reason, act=not held)
            if held:
                self.log.warning("flatten journaled during a recovery hold: it acts once the "
                                 "broker answers", reason=msg.reason)
                self.cancel_unknown_after_recovery = True
            else:
                self.reconciler.cancel_unknown()     # ours at the broker, unknown to the journal
            # an operator's `ctl flatten`: say it was acted on
            if msg.ts_event_ns:
                self.commit()
                write_flatten_ack(self.ctx.run_dir, msg.ts_event_ns, self.pub.next_seq - 1)
        elif isinstance(msg, RequestReconcile):
            if msg.adopt:
                self.reconciler.adopt()
                return
            self.report_broker_positions()           # positions compares its book with it
            if msg.source != "positions" or not self.broker.book_is_ours:
                self.reconciler.request()

    def set_trading_state(self, msg: SetTradingState) -> None:
        """A command from the supervisor: applied once, in stamp order, then acknowledged.

        Commands come from two sockets of the supervisor (its operator desk, its own halt), so one
        may overtake another: a stamp at or below the last applied is stale (a `ctl resume` sent
        before the supervisor's halt must not lift it) or a resend already applied, and is dropped.
        The acknowledgement is written only once the effect is in the journal: a crash in between
        leaves it unacknowledged, and the supervisor's halt is sent again.
        """
        stamp = msg.ts_event_ns
        if stamp and stamp <= self.command_ns:
            self.log.warning("stale trading-state command dropped", state=msg.state,
                             stamp=stamp, applied=self.command_ns)
            return
        if self.reconciler.permits(msg.state):   # never ACTIVE while the broker's view differs
            # while recovery is held nothing is sent (finish_recovery): journaled, acted on after
            self.engine.set_trading_state(msg.state, msg.reason, act=not self.hold.error)
        if stamp:
            self.commit()
            self.command_ns = stamp
            shown = self.shown_state or (self.engine.trading_state, self.engine.state_reason, 0)
            self._show_trading_state(*shown)

    def report_broker_positions(self) -> None:
        """Publish the broker's positions (not journaled: a view, not a money-moving event)."""
        self.commit()                 # as_of_seq below must already be published
        try:
            rows = self.broker.positions()
        except BrokerError as e:
            self.log.warning("broker positions unavailable", error=str(e))
            return
        view = [
            PositionChanged(
                ts_event_ns=0,
                instrument=p.instrument,
                symbol=p.symbol,
                qty=p.qty,
                avg_price=p.avg_price,
                realised_pnl_inr=p.realised_pnl_inr,
                unrealised_pnl_inr=0.0,
                last_price=0.0,
            )
            for p in rows
        ]
        msg = BrokerPositions(
            source="orders",
            seq=self.pub.next_seq - 1,
            ts_event_ns=0,
            positions=view,
            as_of_seq=self.pub.next_seq - 1,
        )
        self.pub.send(topics.snapshot_topic("broker"), msg)

    def step(self) -> None:
        ready = self.poller.wait(0.1)
        self.take_intents()
        if self.pull.socket in ready:
            while (msg := self.pull.recv_nowait()) is not None:
                self.on_message(msg)
        if self.updates is not None and self.updates.socket in ready:
            self.updates.take()
        if self.hold.error:            # holding: see finish_recovery
            if self.hold.due():
                self.finish_recovery()
        else:
            self._watch_signals()
            self.reconciler.poll()
            self.follow_ticks()
            if self.broker.reports_fills_async:   # live brokers report fills between ticks
                self.engine.poll_broker()
            if self.updates is not None:
                for counter, value in self.updates.counts().items():
                    self.rt.set_count(counter, value)
            self.rt.set_count("bad_broker_rows", self.broker.bad_rows)
            self._show_engine_counts()
        self.commit()
        if self.snapshots is not None:
            self.snapshots.watch(self.journal.last_seq)
            self.rt.set_count("snapshot_writer_restarts", self.snapshots.restarts)

    def follow_ticks(self) -> None:
        """Apply the ticks that are due. While the start check waits to confirm a difference, trade
        nothing yet but re-read the ticks handled before a restart: until the engine is past them it
        reads no broker report, and the check would confirm a fill it has not read. Ticks it will
        never see again (a supervisor restart's ring starts above them) are not waited for."""
        if not self.reconciler.holding:
            self.apply_ticks()
        elif self.engine.catchup_seq:
            self.apply_ticks(through=self.engine.catchup_seq)
        self.engine.next_tick_is(self.reader.cursor)

    def _watch_signals(self) -> None:
        row = self.rt.table.row("signals")
        silent = (
            mono_ns() - int(row["heartbeat_ns"]) > SIGNALS_SILENT_NS
            and int(row["state"]) != st.READY
        )
        if silent and self.watermark <= self.ring.published:
            self.log.warning(
                "signals silent: applying ticks without its watermark", watermark=self.watermark
            )
            # Without signals no intent can arrive, but stops and targets must still be managed.
            self.watermark = self.ring.published + 1

    def apply_ticks(self, through: int | None = None) -> int:
        """Apply the ring's ticks below the intents' watermark (and up to `through`, inclusive, if
        given). The reader's cursor and the watermark are both the next sequence, not the last."""
        total = 0
        last = self.watermark if through is None else min(self.watermark, through + 1)
        while self.reader.cursor < last:
            n = self.reader.read_batch(self.buf, last - self.reader.cursor)
            if n == 0:
                break
            self.engine.advance(self.buf[:n])
            self.commit()         # the batch's events durable before its ticks count as consumed
            self.market.save(self.engine.market_snapshot(), self.reader.cursor,
                             self.intents_handled_through())
            self.reader.commit()
            self.intents.commit(self.reader.cursor)   # past the intents of every tick applied
            self.rt.beat()        # a long backlog (a replay catching up) must not look like a hang
            total += n
        if total:
            self.rt.count("ticks", total)
            self.rt.row["lag"] = self.reader.lag
            # percentiles ten times a second: computing them costs ~10 µs, a batch can be one tick
            if (now := mono_ns()) >= self._next_report:
                publish(self.hist, self.rt.lat_ns)
                self._next_report = now + REPORT_EVERY_NS
            self._show_engine_counts()
        return total

    def _show_engine_counts(self) -> None:
        """The engine's tallies in our row (its broker calls go on between ticks, at the stop)."""
        for name in ("duplicate_intents", "broker_errors", "throttled"):
            self.rt.set_count(name, self.engine.stats[name])

    def take_intents(self) -> None:
        """The intent ring: its watermark first, then every record published before it (so every
        intent of a tick below it), in order. Records the ring lost (never: it is lossless, orders
        holds the writer back) would be read back from the journal."""
        watermark = self.intents.watermark()
        while True:
            rows = self.intents.read()
            for msg in intentring.to_messages(rows):
                self.on_message(msg)
            if len(rows) < len(self.intents.buf):
                break
        if self.intents.lost != self.intents_lost:
            self.intents_lost = self.intents.lost
            self.catch_up_intents()
        self.watermark = max(self.watermark, watermark)

    def finish(self) -> None:
        """At stop (signals already stopped and drained): take what is queued, apply every tick,
        then the stop policy (orders/onstop.py: flatten, or leave and say so).

        Not while recovery is held (finish_recovery): the engine does not know yet what happened to
        its orders, so it must not act on ticks; the next start recovers from the same journal.
        """
        self.take_intents()
        while (msg := self.pull.recv_nowait()) is not None:
            self.on_message(msg)
        if not self.hold.error:
            self.catch_up_intents()
            self.watermark = max(self.watermark, self._signals_cursor())
            self.drain_ticks()
            stop = apply_stop_policy(self)
        else:
            stop = {
                "policy": self.ctx.config.run.on_stop,
                "acted": "",
                "held": self.hold.error,
                "left_at_broker": None,
                "note": "recovery was held (the broker did not answer): nothing "
                "was done at the stop and what is working at the broker is unknown; the next start "
                "recovers",
            }
        self.commit()
        publish(self.hist, self.rt.lat_ns)       # the stage table's last figures are the run's
        self._show_engine_counts()
        doc = {"tick_to_order": summary_ns(self.hist), "engine": dict(self.engine.stats),
               "trading_state": self.engine.trading_state, "stop": stop}
        with open(os.path.join(self.ctx.run_dir, rundir.stage_summary("orders")), "wb") as f:
            f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))

    def drain_ticks(self) -> None:
        """Apply the backlog up to the watermark in DRAIN_BATCH slices, reporting progress after
        each: on a starved CPU a slice may take long, but the stop ladder sees the drain move (issue
        11.7)."""
        target = self.watermark
        try:
            while self.reader.cursor < target:
                self.watermark = min(target, self.reader.cursor + DRAIN_BATCH)
                if self.apply_ticks() == 0:
                    break
                self.rt.progress()
        finally:
            self.watermark = target

    def close(self) -> None:
        if self.snapshots is not None:
            self.snapshots.stop()
        for name in ("pull", "pub", "updates"):
            if getattr(self, name, None) is not None:
                getattr(self, name).close()
        if hasattr(self, "zmq"):
            self.zmq.term()
        for closer in (
            self.broker.close,
            self.journal.close,
            self.fills.close,
            self.reader.close,
            self.intents.close,
            self.market.release,
            self.market_seg.close,
            self.ring.close,
            self.intent_ring.close,
            self.instruments.close,
        ):
            closer()


def _topic(msg) -> bytes:
    if isinstance(msg, OrderFilled):
        return topics.fill_topic(msg.symbol)
    if isinstance(msg, OrderDenied):
        return topics.denial_topic(msg.strategy)
    if isinstance(msg, TradingStateChanged):
        return topics.EVT_TRADING_STATE
    strategy = getattr(msg, "strategy", "")
    return topics.order_topic(strategy) if strategy else topics.EVT_ORDER


def run(ctx) -> int:
    return run_stage(ctx, OrdersStage)
