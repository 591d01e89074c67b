"""OrderEngine: the orders stage's deterministic core, a pure function of (ticks, intents).

`advance(ticks, intents)` walks a contiguous run of ticks in seq order. A numba scan
(orders/exposure.py) finds the next tick on which the engine has work (an intent is due, the market
clock reaches a wake time, the day's P&L reaches the kill switch); the paper broker's matching
kernel (`broker.on_ticks`) finds the next tick that fills something, never looking past the first;
the per-tick market state is applied up to the earlier of the two and that tick is SETTLED in
Python, in this fixed order:

    1. broker events (fills, status updates)
    2. kill switch (day P&L <= -daily_loss_limit: HALTED + flatten)
    3. in-doubt orders due for another lookup (all with one read of the broker's book), and at once
       the entries in doubt a halt has just met; exits found absent are sent again here
    4. the end of yesterday's loss-limit halt, once its flatten is done (orders/resume.py)
    5. plan + execute: the sweep (square-off / flatten), or the brackets — exit legs, OCO and
       cancels first, then the entries step 3 found absent, then missing entry slices, so exits get
       the order-rate throttle's room before any entry
    6. intents with tick_seq <= this tick, in arrival order: risk check, then deny or submit

Time is the market clock (the largest ts_event_ns seen), never wall-clock, so a tick's outcome does
not depend on how the stream was cut into batches or how fast it ran.

Durability is event sourcing. Every state change is an event passed to the sink's `emit` (the stage
journals it; `flush` makes everything emitted durable and is called before every broker call:
orders/sink.py) and only then applied by `_apply`, the same function `restore` runs
over the journal. Besides order events the journal carries three record types the engine needs for
itself (`JOURNAL_ONLY`): a `TicksProcessed(upto_seq=T+1)` marker before the first event of tick T,
the approved intent (`SignalRaised`, the bracket's spec) and `FlattenAll` (flatten mode on).
Placement order: emit(OrderSubmitting) BEFORE broker.place, so a crash in between leaves the order
in doubt. The broker calls, their failure handling and the journaling of what the broker reports
(step 1) are the gateway's (orders/gateway.py); the lookups of what the journal does not know
(step 2, and at a restart the fills and cancels a crash missed) are recovery's (orders/recovery.py).
The engine holds both and decides when each is called.

Restart: `restore(events, market)` then `resolve_in_doubt()`, then `advance` from the stage's
committed tick cursor (no later than the start of the batch the crash interrupted; `market` is the
`market_snapshot()` taken at that cursor). Ticks before the last marked tick only rebuild the market
state; that tick is settled again, and every step above is level-triggered (it computes what should
exist from the book and does only what is missing), so the engine finishes exactly what the dead
process had half done and goes on as if it had never died.
"""

import time
from typing import Any, Callable

import numpy as np

from common.clock import NS_PER_S, SECONDS_PER_DAY, ist_midnight_ns
from common.errors import BrokerFatal
from common.messages import (
    BracketsClosed,
    FlattenAll,
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderInDoubt,
    OrderModified,
    OrderRejected,
    OrderSubmitting,
    SignalRaised,
    TicksProcessed,
    TradingStateChanged,
)
from common.tradingstate import NAMES, TradingState
from orders import statemachine as sm
from orders.orderbook import OrderBook
from orders.actions import Cancel, entries_last
from orders.brackets import BracketDesk
from orders.exposure import NEVER_NS, Exposure, apply_ticks, scan_events
from orders.fees import FeeSchedule
from orders.gateway import BrokerGateway, EngineJournal
from orders.intake import Intake
from orders.limits import PHASE_NAMES, PHASE_NO_ENTRY, PHASE_SQUARE_OFF, RiskLimits
from orders.recovery import Recovery
from orders.resume import flatten_left, refusal
from orders.risk import RiskGate
from orders.sink import EventSink
from orders.sweep import plan_sweep
from orders.orderrate import OrderRate

JOURNAL_ONLY = (TicksProcessed, SignalRaised, FlattenAll, BracketsClosed)
_BOOK_ONLY = (OrderAccepted, OrderRejected, OrderCanceled, OrderModified, OrderInDoubt)
_FIRST_CHUNK, _MAX_CHUNK = 64, 1 << 16
DAY_NS = SECONDS_PER_DAY * NS_PER_S
MAX_ROUNDS = 100_000      # plan/act rounds in one settle: a bound, far above any real day's need
LOSS_LIMIT_REASON = "daily loss limit breached"   # a halt with this reason ends with its IST day
# The state names as plain strings: an Enum member's `.name` is a property lookup, and the tick loop
# compares against them on every settle.
_ACTIVE, _REDUCING, _HALTED = (TradingState.ACTIVE.name, TradingState.REDUCING.name,
                               TradingState.HALTED.name)


class OrderEngine:
    """Parameters
    ----------
    instruments : INSTRUMENT_DTYPE rows, indexed by the ticks' `instrument`.
    limits : orders.limits.RiskLimits (from config.risk).
    fees : orders.fees.FeeSchedule (config's `fees` section): charges each fill by its instrument.
    broker : an orders.brokers.base.Broker.
    emit, flush : the engine's EventSink (orders/sink.py): `emit` takes every event in order,
    `flush`
        makes them durable before every broker call (when not given, `emit` itself must).
    stop_order_type, stop_limit_ticks : stop legs as SL-M (default), or SL with the limit that
        many ticks beyond the trigger.

    Raises
    ------
    ValueError
        For a stop_order_type other than "SL-M" or "SL".
    """

    def __init__(self, instruments, limits, fees, broker, emit, *, stop_order_type: str = "SL-M",
                 stop_limit_ticks: int = 2, flush=None, probe_interval_s: float = 10.0,
                 wall_ns=time.monotonic_ns):
        self.limits, self.sink = limits, EventSink(emit, flush)
        self._symbols = [s.decode() for s in instruments["symbol"]]
        self._exchanges = [e.decode() for e in instruments["exchange"]]
        self.risk = RiskGate(limits, instruments)
        self.exposure = Exposure(len(instruments))
        self.book = OrderBook()
        self.desk = BracketDesk(self.risk.tick_size, self.risk.freeze_qty, stop_order_type,
                                stop_limit_ticks, leg_prices=limits.leg_prices,
                                last_price=self.exposure.last_price)
        # The account's windows, and each exchange/segment's second (the retail-algo threshold).
        self.throttle = OrderRate(limits.rate_per_sec, limits.rate_per_min, limits.rate_per_day,
                                 limits.venue_rate_per_sec)
        self.trading_state = _ACTIVE
        self.state_reason = ""            # why trading is in its state (the journaled reason)
        # Every reason journaled for the halt that holds, first to last (empty unless HALTED):
        # whoever lifts a halt asks why it holds (reconcile's adopt lifts a halt that is its own
        # alone), and a restarted process knows it from the journal as the dead one did.
        self.halt_reasons: tuple[str, ...] = ()
        self.loss_halt_day_ns = 0         # IST midnight of the day the daily loss limit halted
        self.flattening = False
        self.denied: set[str] = set()
        self._restored_intents: set[str] = set()
        self._intents_seen = 0
        # events emitted by this process (to see if an action acted)
        self._emitted = 0
        self._pending: list = []          # intents waiting for their tick, by (tick_seq, arrival)
        self._seq = 0                     # the tick being settled (or last settled)
        self._marked_seq = 0              # the tick whose marker is in the journal
        self._marked_ns = 0
        self._catchup_seq = 0             # after restore: settle again at this tick, not before
        self._rereads = False             # restored with a market snapshot: ticks are re-read
        self._wake = 0
        self._sweep_wake = 0
        # Entries in doubt when trading was halted, looked up at the next settle (not at their
        # retry): found working at the broker, the halt cancels them at once.
        self._halt_lookups: set[str] = set()
        self.stats = {
            "held_actions": 0,
            "backed_off_actions": 0,
            "duplicate_intents": 0,
            "redelivered_intents": 0,
            "broker_errors": 0,         # calls the broker failed or refused (5xx, 429, timeouts)
            "throttled": 0,             # calls our own rate limit refused before sending them
            "unknown_fills": 0,
            "deferred_placements": 0,
            "illegal_transitions": 0,
            "duplicate_fills": 0,
            "stops_through_market": 0,
            "probes": 0,
        }
        journal = EngineJournal(mark=self._mark, emit=self._emit, flush=self.sink.flush)
        self.gateway = BrokerGateway(
            broker,
            self.book,
            self.throttle,
            journal,
            self._now,
            venues=self._exchanges,
            symbols=self._symbols,
            fees=fees,
            stats=self.stats,
            touch=self._touch,
            halt=self.halt,
            replan_all=self.desk.touch_all,
            wall_ns=wall_ns,
            probe_interval_ns=int(probe_interval_s * 1e9),
        )
        self.recovery = Recovery(self.gateway, self.book, journal, self._now, stats=self.stats,
                                 entry_closed=self._entry_closed)
        self.intake = Intake(self.risk, limits, self.desk, self.book, self.exposure,
                             self.throttle, self.gateway, journal, self._symbols, self._now,
                             self.stats)

    @classmethod
    def from_config(cls, config, instruments, broker, emit, *, flush=None) -> "OrderEngine":
        """The engine a run of `config` trades with: its risk limits, its broker's charges, its
        probe interval. The orders stage and the in-process backtest both build it here, so they
        cannot drift apart."""
        return cls(instruments, RiskLimits.from_config(config.risk),
                   FeeSchedule.from_config(config, instruments), broker, emit, flush=flush,
                   probe_interval_s=config.broker.probe_interval_s)

    @property
    def broker_down(self) -> str:
        """Why the broker refused our session ("" while it works): the gateway's, see there."""
        return self.gateway.broker_down

    @broker_down.setter
    def broker_down(self, reason: str) -> None:
        self.gateway.broker_down = reason

    # ---------------------------------------------------------------- public API

    def advance(self, ticks: np.ndarray, intents=()) -> None:
        """Process a contiguous run of TICK_DTYPE rows and the intents raised on them."""
        for intent in intents:
            self._queue(intent)
        n = len(ticks)
        i = int(np.searchsorted(ticks["seq"], self.exposure.tick_seq, side="right")) if n else 0
        chunk = _FIRST_CHUNK
        while i < n:
            hi = min(n, i + chunk)
            j = self._scan(ticks, i, hi)
            m = min(j, self.gateway.broker.on_ticks(ticks, i, min(j + 1, hi)))
            ex = self.exposure
            apply_ticks(ticks, i, min(m + 1, hi), ex.last_price, ex.last_ts, ex.last_seq, ex.clock)
            if m >= hi:
                i, chunk = hi, min(2 * chunk, _MAX_CHUNK)
                continue
            self._on_tick(int(ticks[m]["seq"]))
            i, chunk = m + 1, _FIRST_CHUNK

    def poll_broker(self) -> None:
        """Between ticks (live brokers): apply postbacks and react, at the current market clock.

        Does nothing while a restarted engine is still re-reading ticks up to its last handled one
        (the market state is not yet where that tick's handling needs it). A restored market
        snapshot already at that tick needs no re-reading: the broker's reports are read at once,
        not only after the next tick (the start reconciliation holds ticks until it has compared,
        and must see the fills the broker made while we were down).
        """
        if self._catchup_seq and self.exposure.tick_seq >= self._catchup_seq:
            self._catchup_seq = 0
        if not self._catchup_seq:
            self._settle(self._last_tick(), intents=False)

    @property
    def catchup_seq(self) -> int:
        """The tick a restarted engine re-reads up to before it acts again (0: none)."""
        return self._catchup_seq

    def next_tick_is(self, seq: int) -> None:
        """The stage's next tick to read is `seq`. Past the catch-up tick, the ticks up to it will
        never be read again — after a supervisor restart the new ring starts above the old marks —
        so the engine stops waiting for them: the journal holds everything they caused, and the
        broker's reports (a fill made while nothing ran) are read from the next poll on, not only
        after the first new tick. Waiting instead left the start reconciliation to "confirm" that
        unread fill as a difference and halt, with the OCO blind meanwhile.
        Without a market snapshot the market clock starts at the last handled tick's time (the
        journal's), not at 0: the session phase (a square-off due) and the next wake-up are judged
        on one clock — at 0 the poll saw PRE_OPEN while the wake-up was set from the journal's
        time, and a square-off the dead process had begun was not placed until the close."""
        if self._catchup_seq and seq > self._catchup_seq:
            self._catchup_seq = 0
            if self.exposure.clock_ns < self._marked_ns:
                self.exposure.clock[0] = self._marked_ns

    def set_trading_state(self, state: str, reason: str = "", *, act: bool = True) -> None:
        """ACTIVE / REDUCING / HALTED from outside (supervisor, operator). HALTED cancels entries.

        `act=False` journals the state without acting on it now (no broker call): for a stage whose
        recovery is held, which must not send anything before it knows what happened to its orders;
        the first settle after recovery plans every bracket under the new state (`_apply` touches
        them all).

        Raises
        ------
        ValueError
            For a state that is not one of common.tradingstate.NAMES.
        """
        if state not in NAMES:
            raise ValueError(f"trading state must be one of {NAMES}, got {state!r}")
        left = self._flatten_left() if state != _HALTED and self.flattening else []
        if left:
            # Not before the flatten is done (orders/resume.py): refused, naming what is left.
            self._seq = self._last_tick()
            self._set_state(_HALTED, refusal(left, reason))
            if act:
                self._settle(self._seq, intents=False)
        elif (state != self.trading_state or self._outlives_the_day(state, reason)
              or (state == _HALTED and reason and reason != self.state_reason)):
            # A new reason to halt while halted is journaled too: the halt is now (also) for it, and
            # whoever lifts a halt asks why it holds (reconcile's adopt lifts only its own).
            self._seq = self._last_tick()
            self._set_state(state, reason)
            if act:
                self._settle(self._seq, intents=False)

    def _flatten_left(self) -> list[str]:
        """What the flatten still waits for (orders/resume.py `flatten_left`)."""
        ex = self.exposure
        return flatten_left({int(k): int(ex.pos_qty[k]) for k in ex.open_instr},
                            self.book.working(), self.recovery.unreadable, self._symbols)

    def release_unreadable_entries(self, reason: str) -> list[str]:
        """During a flatten, the entries in doubt for good released on the operator's word (`ctl
        adopt`: orders/recovery.py `release_unreadable`, orders/resume.py); their client ids.
        Journaled only, no broker call (a stage whose recovery is held may adopt too)."""
        if not self.flattening:
            return []
        self._seq = self._last_tick()
        return self.recovery.release_unreadable(reason)

    def halt(self, reason: str) -> None:
        """HALTED, journaled, without acting on it now: for a stage that cannot reach its broker to
        finish recovery (restore has run, resolve_in_doubt has not), and the gateway's reaction to a
        refused session (a halt for a new reason while a loss-limit halt holds is journaled too)."""
        halted = _HALTED
        if self.trading_state != halted or self._outlives_the_day(halted, reason):
            self._set_state(halted, reason)

    @property
    def halt_ends_with_day(self) -> bool:
        """HALTED by the daily loss limit only: the next IST day trades again."""
        return self.trading_state == _HALTED and bool(self.loss_halt_day_ns)

    def _outlives_the_day(self, state: str, reason: str) -> bool:
        """A halt for another reason arriving while the loss limit holds trading HALTED: journaled,
        so it is not lifted with the loss limit the next morning."""
        return (state == _HALTED and self.halt_ends_with_day
                and not reason.startswith(LOSS_LIMIT_REASON))

    def flatten_all(self, reason: str = "", *, act: bool = True) -> None:
        """Cancel every working order and close every position (brackets stop managing them).
        `act=False` journals the flatten without acting now, as for set_trading_state: the first
        settle after a held recovery sweeps."""
        self._seq = self._last_tick()
        self._mark()
        self._emit(FlattenAll(ts_event_ns=self._now(), reason=reason))
        if act:
            self._settle(self._seq, intents=False)

    @property
    def clock_ns(self) -> int:
        """The market clock: the largest tick time seen, or later where advance_clock moved it."""
        return self._now()

    def advance_clock(self, ts_ns: int) -> None:
        """Move the market clock on to `ts_ns` (never back) while no tick moves it: at a stop the
        feed has ended but a live market goes on, and everything the engine paces on market time
        (the order-rate throttle, a cancel's retry, an in-doubt lookup) must go on with it. Events
        emitted from now carry this time in the journal, so a restart replays them as they were."""
        self._marked_ns = max(self._marked_ns, int(ts_ns))

    def set_circuit_limits(self, instrument: int, lower: float, upper: float) -> None:
        self.risk.set_circuit_limits(instrument, lower, upper)

    def market_snapshot(self) -> np.ndarray:
        """The per-tick market state, for the stage to store with its tick cursor (see restore)."""
        return self.exposure.market_snapshot()

    def positions(self) -> dict[int, tuple[int, float, float]]:
        """instrument -> (net qty, average price, realised P&L before charges), traded ones only."""
        ex = self.exposure
        return {int(k): (int(ex.pos_qty[k]), float(ex.avg_price[k]), float(ex.realised[k]))
                for k in np.flatnonzero(ex.traded)}

    def _last_tick(self) -> int:
        """External commands act "after" the last tick applied (settled or not)."""
        return max(self._seq, self.exposure.tick_seq)

    def _set_state(self, state: str, reason: str) -> None:
        self._mark()
        self._emit(TradingStateChanged(ts_event_ns=self._now(), state=state, reason=reason))

    # ---------------------------------------------------------------- restart

    def restore(self, events, market: np.ndarray | None = None) -> None:
        """Rebuild all state from the journaled events (in order) and a market snapshot."""
        self.replay(events)
        self._restored_intents = set(self.desk.brackets) | self.denied
        if market is not None:
            self.exposure.load_market(market)
        # With a snapshot the stage re-reads its ticks from it (a stage restart); without one (a
        # supervisor restart: a new ring, numbered above the journal's marks) it never will.
        self._rereads = market is not None
        self.exposure.roll_day(self._now())     # as the dead process did on that tick
        self._seq = self._marked_seq
        self.desk.prune(self.book)

    def replay(self, events) -> None:
        """Apply journaled events (in order) and nothing else: the journal-derived state that
        restore then settles, and that a snapshot holds (orders/snapshot.py). `restore([], ...)`
        after it is `restore(events, ...)`."""
        for msg in events:
            self._apply(msg)

    def first_pending_seq(self) -> int:
        """The smallest signals-journal seq of the intents waiting for their tick (0: none)."""
        return min(intent.seq for intent in self._pending) if self._pending else 0

    def redelivered(self, intent) -> bool:
        """True (and counted) for an intent read again after a restart whose outcome the journal
        already holds (its bracket, or its denial): there is nothing more to do with it. A restart
        re-reads the day's intents from signals' journal, and each would otherwise be queued until
        its tick only to be dropped there, and counted again as received."""
        if intent.intent_id in self._restored_intents:
            self.stats["redelivered_intents"] += 1
            return True
        return False

    def resolve_in_doubt(self) -> None:
        """After restore: settle every order whose outcome the journal lacks, against the broker.

        Each call is a new attempt (the stage's recovery retry is the probe of a refused session);
        the first refusal ends it at once with BrokerFatal: no further call with a dead token.
        """
        self.broker_down = ""
        # An IN_DOUBT entry is looked up on its retry's tick, as the dead process would have: on
        # the restored (stale) market clock here, entries may still look open when they have
        # closed while the process was down (the cut-off, the night), and it would go out.
        self.recovery.resolve([o for o in self.book.unresolved()
                               if o.status != sm.IN_DOUBT or o.role != "ENTRY"], self._seq)
        if self.broker_down:
            raise BrokerFatal(self.broker_down)
        for t in self.recovery.missing_fills():   # a crash between the fill and its event
            if t.tick_seq > self._marked_seq:
                self._seq = t.tick_seq
                self._mark(t.ts_event_ns)
            self.gateway.on_trade(t, self._seq)
        triggered_at = 0
        for found in self.recovery.final_statuses():
            if found.triggered and found.order_type in ("SL", "SL-M") and \
                    found.status not in sm.TERMINAL:
                triggered_at = max(triggered_at, found.trigger_seq)
            self.gateway.on_order(found)
        # A stop the broker triggered on a tick the dead process never settled (it died between
        # the broker's match and that tick's first event): where the stage re-reads its ticks,
        # that tick is settled again, so the target's cancel is journaled at it, as the process
        # that never died did — not at the last marked tick, earlier in market time. A ring that
        # will never hold that tick again is not waited for: the next poll cancels the target.
        self._catchup_seq = max(self._marked_seq, triggered_at if self._rereads else 0)
        self._update_wake()

    # ---------------------------------------------------------------- the tick loop

    def _queue(self, intent) -> None:
        k = len(self._pending)
        while k > 0 and self._pending[k - 1].tick_seq > intent.tick_seq:
            k -= 1
        self._pending.insert(k, intent)

    def _scan(self, ticks, start: int, stop: int) -> int:
        ex = self.exposure
        if self._catchup_seq:
            stop_seq, wake, check_loss = self._catchup_seq, NEVER_NS, False
        else:
            stop_seq = self._pending[0].tick_seq if self._pending else NEVER_NS
            wake, check_loss = self._wake, not self.flattening and len(ex.open_instr) > 0
        return scan_events(ticks, start, stop, ex.clock_ns, stop_seq, wake, check_loss,
                           -self.limits.daily_loss_limit_inr, ex.realised_net, ex.open_instr,
                           ex.open_slot, ex.pos_qty, ex.avg_price, ex.last_price, ex.scratch_px,
                           ex.alert_lo, ex.alert_hi)

    def _on_tick(self, seq: int) -> None:
        if self._catchup_seq:
            if seq < self._catchup_seq:
                return            # already handled before the restart; its events are journaled
            self._catchup_seq = 0
        self._settle(seq, intents=True)

    def _settle(self, seq: int, *, intents: bool) -> None:
        self._seq = seq
        self.gateway.new_settle()
        self.exposure.roll_day(self._now())       # the daily loss limit is daily
        for report in self.gateway.reports():
            self.gateway.on_report(report, seq)
        # The loss check first: an entry whose retry is due on the tick that breaches the daily
        # loss limit must meet the halt, not go out and be canceled by the flatten a moment later.
        self._check_loss()
        self.recovery.retry_due(seq, now_too=self._halt_lookups)
        self._halt_lookups.clear()
        self._new_day()
        for bracket_id in self.desk.gapped_stops(self.book):
            self.desk.touch(bracket_id)
        self._plan_and_execute()
        while intents and self._pending and self._pending[0].tick_seq <= seq:
            self.intake.take(self._pending.pop(0), seq=seq, trading_state=self.trading_state,
                             denied=self.denied, restored=self._restored_intents)
        self._update_wake()
        self.stats["illegal_transitions"] = self.book.illegal_transitions
        self.stats["duplicate_fills"] = self.book.duplicate_fills
        self.stats["stops_through_market"] = len(self.desk.through_market)

    def _new_day(self) -> None:
        """A halt by yesterday's loss limit ends on a new IST day (no other halt does), once its
        flatten is done (orders/resume.py): looked at after each settle's reports and lookups."""
        if not (self.trading_state == _HALTED and self.loss_halt_day_ns
                and ist_midnight_ns(self._now()) > self.loss_halt_day_ns):
            return
        if self.flattening and self._flatten_left():
            return
        done = ", and its flatten is done" if self.flattening else ""
        self._set_state(_ACTIVE, f"new trading day: the daily loss limit starts again{done}")

    def _entry_closed(self, order) -> str:
        """Why an entry the broker never received may not be sent now ("" when it may): a halt or
        REDUCING met it in doubt (it ended its bracket's entries, whatever trading is now), trading
        is not ACTIVE, a square-off or flatten is under way, its IST day or the entry cut-off has
        passed, or its bracket is closed (a flatten closes every bracket; its entry must not come
        back after a resume as a position with no stop or target)."""
        b = self.desk.brackets.get(order.bracket_id)
        if b is not None and b.entries_halted:
            return f"its bracket's entries ended while it was in doubt: {b.entries_halted}"
        if self.trading_state != _ACTIVE:
            return f"trading {self.trading_state}: {self.state_reason}"
        if self.flattening:
            return "a flatten is under way"
        now = self._now()
        if ist_midnight_ns(order.submitted_ns) != ist_midnight_ns(now):
            return "its IST day has ended"
        phase = self.limits.phase(now)
        if phase >= PHASE_NO_ENTRY:
            return f"the session is past the entry cut-off ({PHASE_NAMES[phase]})"
        if order.bracket_id not in self.desk.active:
            return "its bracket was closed by a square-off or flatten"
        return ""

    def _sweeping(self) -> bool:
        return self.flattening or self.limits.phase(self.exposure.clock_ns) >= PHASE_SQUARE_OFF

    def _plan_and_execute(self) -> None:
        """Plan, act, plan again, until a plan asks for nothing new.

        The next thing done is always a function of the book as it stands: after any action that
        changed it (emitted an event) the plan is made again before anything else is done, since
        that outcome can change what comes next (a refused stop turns its bracket into a market
        exit). A restarted engine, whose book is the journal's, therefore does exactly what the
        dead one would have done next, wherever it died. A sweep's cancels are independent of one
        another and its closes wait for them, so a sweep acts on all its cancels, then on all its
        closes, which is the same sequence.

        Protective work first: entries (the lookups' absent ones, then missing slices) only once a
        plan has no exit, leg or cancel left that acts: exits get the throttle's room first.
        """
        self._sweep_wake = 0
        entries_due = True          # the lookups' absent entries are still to be sent
        for _ in range(MAX_ROUNDS):
            if self._sweeping():
                if self.desk.active and not self.flattening:
                    # Square-off: the legs of every bracket still open are never placed again.
                    # Finished ones are dropped first, as a restore does, so a restarted engine
                    # decides the same.
                    self.desk.prune(self.book)
                    if self.desk.active:
                        self._mark()
                        self._emit(BracketsClosed(ts_event_ns=self._now(), reason="square-off"))
                ex = self.exposure
                positions = {int(k): int(ex.pos_qty[k]) for k in ex.open_instr}
                role = "FLATTEN" if self.flattening else "SQUAREOFF"
                actions, self._sweep_wake = plan_sweep(
                    self.book, positions, role, self.risk.freeze_qty, self._now(), role.lower())
                cancels = [a for a in actions if isinstance(a, Cancel)]
                changed = self._act(cancels or actions, first_only=False)
            else:
                past_cutoff = self.limits.phase(self.exposure.clock_ns) >= PHASE_NO_ENTRY
                state = self.trading_state
                plan = self.desk.plan(self.book, state == _HALTED, past_cutoff,
                                      reducing=state == _REDUCING)
                protective, entries = entries_last(plan)
                changed = self._act(protective, first_only=True)
                if not changed and entries_due:
                    entries_due, before = False, self._emitted
                    self.recovery.send_entries(self._seq)
                    changed = self._emitted != before
                if not changed and entries:
                    changed = self._act(entries, first_only=True)
            if not changed:
                break
        if entries_due:
            self.recovery.send_entries(self._seq)   # a sweep's: each is rejected, entries closed

    def _act(self, actions: list, *, first_only: bool) -> bool:
        """Execute actions in order (up to the first that emitted an event when `first_only`);
        True if any did. An action that emitted nothing (deferred, held, backing off) is passed."""
        changed = False
        for a in actions:
            before = self._emitted
            self.gateway.execute([a], self._seq)
            if self._emitted != before:
                changed = True
                if first_only:
                    break
        return changed

    def _update_wake(self) -> None:
        now = self._now()
        # The next session boundary, the next IST midnight (the day's P&L starts again), and what
        # the gateway (throttle room, an action's backoff) and recovery (an order in doubt) wait
        # for.
        wake = min(self.limits.next_boundary_ns(now), ist_midnight_ns(now) + DAY_NS,
                   self.gateway.next_due_ns(), self.recovery.next_due_ns())
        if self._sweep_wake:
            wake = min(wake, self._sweep_wake)
        self.desk.set_alerts(self.book, self.exposure.alert_lo, self.exposure.alert_hi)
        self._wake = wake

    def _check_loss(self) -> None:
        if self.flattening:
            return
        pnl = self.exposure.day_pnl()
        if pnl > -self.limits.daily_loss_limit_inr:
            return
        reason = (f"{LOSS_LIMIT_REASON}: day P&L {pnl:.2f} INR <= "
                  f"-{self.limits.daily_loss_limit_inr:.2f}")
        if self.trading_state != _HALTED:
            self._set_state(_HALTED, reason)
        self._mark()
        self._emit(FlattenAll(ts_event_ns=self._now(), reason=reason))

    # ---------------------------------------------------------------- events

    def _now(self) -> int:
        # The clock array read directly, not through the property: _now runs several times per
        # event. Through `exposure` each time (no alias kept here): a restore may replace it.
        now = self.exposure.clock.item(0)
        return now if now > self._marked_ns else self._marked_ns

    def _mark(self, ts_ns: int = 0) -> None:
        """Journal "the events that follow belong to tick `_seq`", once, before anything else."""
        if self._marked_seq != self._seq:
            self._emit(TicksProcessed(ts_event_ns=ts_ns or self._now(), upto_seq=self._seq + 1,
                                      intents_sent=self._intents_seen))

    def _emit(self, msg) -> None:
        self.sink.emit(msg)
        self._emitted += 1
        self._apply(msg)

    def _apply(self, msg) -> None:
        """The one place state changes: live right after emit, and on restore for each event.
        Dispatched on the exact type (messages are frozen leaf Structs): one dict lookup instead
        of a chain of isinstance tests on every event. Types with no applier change no state."""
        apply = _APPLIERS.get(type(msg))
        if apply is not None:
            apply(self, msg)

    def _apply_marker(self, msg: TicksProcessed) -> None:
        self._marked_seq, self._marked_ns = msg.upto_seq - 1, msg.ts_event_ns
        self.exposure.roll_day(msg.ts_event_ns)

    def _apply_fill(self, msg: OrderFilled) -> None:
        if msg.fill_id not in self.book.fill_ids:
            self._touch(self.book.apply(msg))
            self.exposure.apply_fill(msg.instrument, msg.side, msg.qty, msg.price, msg.fees_inr)

    def _apply_submitting(self, msg: OrderSubmitting) -> None:
        order = self.book.apply(msg)
        self.throttle.record(msg.ts_event_ns, self._exchanges[msg.instrument])
        self.desk.attach(order)
        self._touch(order)

    def _apply_book(self, msg) -> None:
        self._touch(self.book.apply(msg))

    def _apply_intent(self, msg: SignalRaised) -> None:
        self.desk.open(msg)
        self._intents_seen += 1

    def _apply_denial(self, msg: OrderDenied) -> None:
        self.denied.add(msg.intent_id)
        self._intents_seen += 1

    def _apply_state(self, msg: TradingStateChanged) -> None:
        held = self.halt_reasons if self.trading_state == _HALTED else ()
        self.halt_reasons = (*held, msg.reason) if msg.state == _HALTED else ()
        self.trading_state, self.state_reason = msg.state, msg.reason
        loss = msg.state == _HALTED and msg.reason.startswith(LOSS_LIMIT_REASON)
        self.loss_halt_day_ns = ist_midnight_ns(msg.ts_event_ns) if loss else 0
        if msg.state == _HALTED:
            # A halt ends the entries of every bracket open now, as a trader expects of it: the
            # working ones are canceled (the plan), one in doubt is never sent again after a
            # resume, and is canceled if the broker turns out to have it (looked up at once).
            self.desk.end_entries(f"HALTED ({msg.reason})", cancel=True)
            self._halt_lookups.update(o.client_order_id for o in self.book.unresolved()
                                      if o.role == "ENTRY")
        elif msg.state == _REDUCING:
            # Nothing adds to a position: the entries not at the broker yet end, as at a halt;
            # the working ones stay (orders/brackets.py "REDUCING").
            self.desk.end_entries(f"REDUCING ({msg.reason})", cancel=False)
        self.desk.touch_all()
        if msg.state == _ACTIVE:
            self.flattening = False

    def _apply_flatten(self, msg: FlattenAll) -> None:
        self.flattening = True
        self.desk.close_all()

    def _apply_brackets_closed(self, msg: BracketsClosed) -> None:
        self.desk.close_all()

    def _touch(self, order) -> None:
        """An order changed: its bracket (if it has one) is planned again."""
        if order is not None and order.bracket_id:
            self.desk.touch(order.bracket_id)


# Each journaled event type -> the OrderEngine method that applies it (see OrderEngine._apply).
_APPLIERS: dict[type, Callable[[OrderEngine, Any], None]] = {
    TicksProcessed: OrderEngine._apply_marker,
    OrderFilled: OrderEngine._apply_fill,
    OrderSubmitting: OrderEngine._apply_submitting,
    **dict.fromkeys(_BOOK_ONLY, OrderEngine._apply_book),
    SignalRaised: OrderEngine._apply_intent,
    OrderDenied: OrderEngine._apply_denial,
    TradingStateChanged: OrderEngine._apply_state,
    FlattenAll: OrderEngine._apply_flatten,
    BracketsClosed: OrderEngine._apply_brackets_closed,
}
