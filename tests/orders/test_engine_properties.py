"""Properties of the orders engine on ANY tick path, searched by hypothesis.

Random multi-day paths over 1-3 instruments (pre-open, session, cut-off, square-off and post-close
ticks, gaps, exact ties), 1-3 strategies raising MARKET and LIMIT entries with and without legs,
and a paper broker that fills in random partial sizes with slippage and refuses some orders. The
engine is fed one tick at a time and after EVERY tick:

- a bracket with an open quantity has stop legs working for all of it, or its square-off is
  working (the documented windows: an exit the throttle deferred, a stop the broker refused twice
  — the square-off then closes it — and the sweep waiting for its cancels);
- at most one exit of an OCO pair fills: a bracket's exits never fill more than its entry did;
- no position is beyond max_position_qty;
- no entry is sent outside the session or after the entry cut-off;
- every price sent to the broker is on the tick grid, written as the shortest decimal;
- the daily loss figure (Exposure.realised_net) is that IST day's realised P&L net of charges,
  recomputed here from the fills alone;
and at the first tick of every later day every position is flat (the square-off ran). Finally the
same input run again, in whole-day batches instead of tick by tick, gives an identical journal.
"""

import os
import tempfile
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from common.accounting import apply_trade
from common.clock import NS_PER_S, SECONDS_PER_DAY, ist_midnight_ns
from common.dtypes import TICK_DTYPE
from common.messages import OrderFilled, OrderSubmitting
from orders import statemachine as sm
from orders.brackets import open_qty
from orders.orderbook import CLOSE_ROLES
from orders.limits import RiskLimits
from tests.orders.risk_support import limits_of
from tests.orders.scenario import batches
from tests.orders.stubs import Desk, FlakyBroker, comparable, instruments, intent, ist_ns
from tests.orders.test_engine_determinism import Crash, crashing_journal, outcome

# CI runs a fixed, derandomized set of examples (a red CI is a real counterexample, reproducible);
# OTRADE_PROPERTY_EXAMPLES=5000 OTRADE_PROPERTY_RANDOM=1 searches further, with fresh randomness.
EXAMPLES = int(os.environ.get("OTRADE_PROPERTY_EXAMPLES", "200"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=not os.environ.get("OTRADE_PROPERTY_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow])
TICK = 0.05
DAY_NS = SECONDS_PER_DAY * NS_PER_S
OPEN_S, CUTOFF_S, SQUARE_OFF_S = 9 * 3600 + 15 * 60, 15 * 3600, 15 * 3600 + 10 * 60
MAX_POSITION = 6


@st.composite
def markets(draw):
    """(ticks, intents, refuse_mod, broker options, daily loss limit) of a random market."""
    n_inst = draw(st.integers(1, 3))
    n_days = draw(st.integers(1, 3))
    level = [draw(st.integers(1900, 2100)) for _ in range(n_inst)]     # prices in ticks
    rows: list[tuple[int, int, int]] = []                 # (ts_ns, instrument, price in ticks)
    for day in range(n_days):
        midnight = ist_ns(0, 0) + day * DAY_NS
        moves = draw(st.lists(st.tuples(st.integers(0, n_inst - 1),
                                        st.sampled_from([-40, -3, -2, -1, 0, 0, 1, 2, 3, 40]),
                                        st.integers(9 * 3600 + 5 * 60, 15 * 3600 + 9 * 60)),
                              min_size=5, max_size=80))
        moves.sort(key=lambda m: m[2])
        # After the square-off: every instrument trades each second for a while, and after 15:30.
        tail = [(k, 0, SQUARE_OFF_S + s) for s in range(0, 6) for k in range(n_inst)]
        tail += [(k, 0, 15 * 3600 + 31 * 60) for k in range(n_inst)]
        for k, move, at_s in moves + tail:
            level[k] = max(100, level[k] + move)
            rows.append((midnight + at_s * NS_PER_S, k, level[k]))
    ticks = np.zeros(len(rows), TICK_DTYPE)
    ticks["seq"] = np.arange(1, len(rows) + 1)
    for i, (ts, k, px) in enumerate(rows):
        ticks[i]["ts_event_ns"] = ticks[i]["ts_recv_ns"] = ts
        ticks[i]["instrument"] = k
        ticks[i]["price"] = px / 20  # whole paise, 0.05 a tick
    tod = (
        (ticks["ts_event_ns"] - ist_midnight_ns(int(ticks["ts_event_ns"][0]))) % DAY_NS // NS_PER_S
    )
    in_session = np.flatnonzero((tod >= OPEN_S) & (tod < CUTOFF_S))
    specs = draw(st.lists(st.tuples(
        st.integers(0, 1 << 20), st.sampled_from(["s0", "s1", "s2"]),
        st.sampled_from([1, -1]), st.integers(1, 4), st.booleans(),
        st.sampled_from([0.0, 0.2, 0.5, 1.0]), st.sampled_from([0.0, 0.3, 1.0, 2.0]),
        st.integers(-2, 2), st.integers(0, 9)), max_size=40))
    intents = {}
    for at, strategy, side, qty, limit, stop_pct, target_pct, offset, where in specs:
        # Mostly in the session, where entries are allowed; one in ten anywhere (pre-open, after
        # the cut-off, after the close), where they must be denied.
        pool = in_session if where and len(in_session) else np.arange(len(ticks))
        t = ticks[int(pool[at % len(pool)])]
        px = float(t["price"])
        ref = round((px + side * offset * TICK) / TICK) * TICK if limit else px
        it = intent(int(t["seq"]), instrument=int(t["instrument"]), side=side, qty=qty,
                    order_type="LIMIT" if limit else "MARKET", limit_price=ref if limit else 0.0,
                    stop_loss=ref * (1 - side * stop_pct / 100) if stop_pct else 0.0,
                    target=ref * (1 + side * target_pct / 100) if target_pct else 0.0,
                    strategy=strategy, ts_ns=int(t["ts_event_ns"]))
        intents[it.intent_id] = it                       # one intent per id, as signals sends
    options = dict(max_fill_qty_per_tick=draw(st.sampled_from([0, 1, 2, 3])),
                   slippage_ticks=draw(st.sampled_from([0, 1])))
    options["stop_order_type"] = draw(st.sampled_from(["SL-M", "SL-M", "SL"]))
    refuse_mod = draw(st.sampled_from([0, 5, 9]))        # 1 in N orders refused; 0 = none
    loss_limit = draw(st.sampled_from([3.0, 10.0, 1e9]))  # small: the kill switch fires
    return (
        ticks,
        sorted(intents.values(), key=lambda m: m.tick_seq),
        refuse_mod,
        options,
        loss_limit,
    )


def limits(loss_limit: float) -> RiskLimits:
    return limits_of(max_order_qty=4, max_order_notional_inr=1e6, max_position_qty=MAX_POSITION,
                     max_gross_exposure_inr=1e8, max_open_orders=200, rate_per_sec=100,
                     rate_per_min=1000, rate_per_day=10000, daily_loss_limit_inr=loss_limit,
                     stale_tick_ms=3_600_000, price_band_pct=5.0)


def make_desk(directory: str, mod: int, options: dict, loss_limit: float, emit=None,
              failures=None) -> Desk:
    """A desk whose broker refuses 1 in `mod` entries and legs, deterministically by client id.
    A square-off is never refused here: "flat after the square-off" needs it to go through.
    `failures`: the n-th placements that fail as scripted (tests/orders/stubs.FlakyBroker)."""
    held: dict = {}

    def refuse(req) -> bool:
        if mod == 0 or sum(req.client_order_id.encode()) % mod:
            return False
        return held["desk"].engine.book.orders[req.client_order_id].role not in CLOSE_ROLES

    desk = Desk(directory, rows=instruments(3, tick_size=TICK), limits=limits(loss_limit),
                wrap=lambda paper: FlakyBroker(paper, failures, refuse=refuse), emit=emit,
                **options)
    held["desk"] = desk
    return desk


def on_grid(price: float) -> bool:
    d = Decimal(repr(price))
    return d % Decimal("0.05") == 0 and -d.as_tuple().exponent <= 2


def day_pnl_from_fills(fills, day_ns: int) -> float:
    """Average-cost realised P&L minus charges of the fills on IST day `day_ns`, from scratch."""
    book: dict[int, tuple[int, float, float]] = {}
    total = 0.0
    for f in fills:
        qty, avg, realised = book.get(f.instrument, (0, 0.0, 0.0))
        qty2, avg2, realised2 = apply_trade(qty, avg, realised, f.side * f.qty, f.price)
        book[f.instrument] = (qty2, avg2, realised2)
        if ist_midnight_ns(f.ts_event_ns) == day_ns:
            total += (realised2 - realised) - f.fees_inr
    return total


def check_after_tick(desk: Desk, tick, lim: RiskLimits, unwatched=frozenset()) -> None:
    """`unwatched`: brackets whose exits the broker moved while no engine ran (a supervisor's down
    time): a pair managed by the client is not one-cancels-other while nobody is there to cancel."""
    eng, book = desk.engine, desk.engine.book
    # Positions within the limit.
    assert np.all(np.abs(eng.exposure.pos_qty) <= lim.max_position_qty), eng.exposure.pos_qty
    # OCO: exits never fill more than the entry did.
    for b in eng.desk.brackets.values():
        if b.intent_id in unwatched:
            continue
        entry = sum(book.orders[c].filled_qty for c in b.entries)
        exits = sum(book.orders[c].filled_qty for c in b.stops + b.targets)
        assert exits <= entry, (b.intent_id, entry, exits)
    # Protection: every open bracket quantity is covered by working stops (or a documented window).
    sweeping = eng._sweeping()
    for b in eng.desk.active.values():
        want = open_qty(b, book)
        if want == 0 or b.stop_loss == 0 or sweeping or eng.gateway.deferred:
            continue
        stops = [book.orders[c] for c in b.stops]
        if sum(1 for o in stops if o.status == sm.REJECTED) >= 2:
            continue                                   # given up on: the square-off's job
        covered = sum(o.leaves for o in stops if o.working and o.status != sm.CANCEL_PENDING)
        assert covered >= want, (b.intent_id, want, covered)
    # While sweeping, every open position has its close working (or waits for its cancels).
    if sweeping and not eng.gateway.deferred:
        for k in eng.exposure.open_instr:
            working = [o for o in book.working() if o.instrument == k]
            assert working, f"position {eng.exposure.pos_qty[k]} on {k} with nothing closing it"
    # The daily loss figure is today's realised P&L net of charges.
    fills = [m for m in desk.events if isinstance(m, OrderFilled)]
    if eng.exposure.day_ns:
        expected = day_pnl_from_fills(fills, eng.exposure.day_ns)
        assert abs(eng.exposure.realised_net - expected) < 1e-6, (
            eng.exposure.realised_net,
            expected,
        )


def check_journal(events, lim: RiskLimits) -> None:
    for m in events:
        if not isinstance(m, OrderSubmitting):
            continue
        assert on_grid(m.price) or m.price == 0.0, repr(m.price)
        assert on_grid(m.trigger_price) or m.trigger_price == 0.0, repr(m.trigger_price)
        if m.role == "ENTRY":
            tod = (m.ts_event_ns - ist_midnight_ns(m.ts_event_ns)) // NS_PER_S
            assert OPEN_S <= tod < CUTOFF_S, f"entry at {tod} s of the day"


def run_tick_by_tick(directory: str, ticks, intents, mod, options, loss_limit,
                     failures=None) -> Desk:
    lim = limits(loss_limit)
    desk = make_desk(directory, mod, options, loss_limit, failures=failures)
    by_seq: dict[int, list] = {}
    for it in intents:
        by_seq.setdefault(it.tick_seq, []).append(it)
    day = 0
    for i in range(len(ticks)):
        tick = ticks[i:i + 1]
        today = ist_midnight_ns(int(tick["ts_event_ns"][0]))
        if day and today > day:                      # the square-off ran yesterday: all flat
            assert not np.any(desk.engine.exposure.pos_qty), desk.engine.exposure.pos_qty
        day = today
        desk.engine.advance(tick, by_seq.get(int(tick["seq"][0]), []))
        check_after_tick(desk, tick, lim)
    check_journal(desk.events, lim)
    assert not np.any(desk.engine.exposure.pos_qty), "not flat after the last session"
    kinds = {type(m).__name__ for m in desk.events}
    for name in ("OrderFilled", "OrderRejected", "OrderModified", "FlattenAll", "BracketsClosed"):
        event(f"{name} {'seen' if name in kinds else 'not seen'}")  # --hypothesis-show-statistics
    stop_fills = sum(1 for m in desk.events
                     if getattr(m, "role", "") == "STOP" and isinstance(m, OrderFilled))
    event(f"stop fills: {min(3, stop_fills)}+")
    return desk


def run_by_day(directory: str, ticks, intents, mod, options, loss_limit) -> Desk:
    desk = make_desk(directory, mod, options, loss_limit)
    days = np.array([ist_midnight_ns(int(t)) for t in ticks["ts_event_ns"]])
    for day in np.unique(days):
        part = ticks[days == day]
        lo, hi = int(part["seq"][0]), int(part["seq"][-1])
        desk.engine.advance(part, [m for m in intents if lo <= m.tick_seq <= hi])
    return desk


@PROPERTY
@given(markets())
def test_engine_invariants_hold_after_every_tick_of_any_market(market):
    ticks, intents, mod, options, loss_limit = market
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        tick_by_tick = run_tick_by_tick(a, ticks, intents, mod, options, loss_limit)
        by_day = run_by_day(b, ticks, intents, mod, options, loss_limit)
        try:
            assert comparable(tick_by_tick.events) == comparable(by_day.events)
        finally:
            tick_by_tick.close()
            by_day.close()


@PROPERTY
@given(markets(), st.lists(st.tuples(st.integers(1, 80),
                                     st.sampled_from(["throttled", "before", "after"])),
                           max_size=10, unique_by=lambda f: f[0]))
def test_placements_throttled_or_lost_are_each_at_the_broker_once(market, failed):
    """Placements the adapter's throttle refused (never sent: sent again without a lookup) among
    ones whose answer was lost before or after the broker got them (looked up first): every
    invariant holds after every tick, and no client order id ever reaches the broker twice."""
    from common.errors import THROTTLED, BrokerRetryable

    ticks, intents, mod, options, loss_limit = market
    failures = {n: ("before", BrokerRetryable("throttled (client-side limit)", code=THROTTLED))
                if kind == "throttled" else (kind, BrokerRetryable("read timeout"))
                for n, kind in failed}
    with tempfile.TemporaryDirectory() as d:
        desk = run_tick_by_tick(d, ticks, intents, mod, options, loss_limit, failures)
        try:
            assert desk.paper._book.duplicate_client_ids == 0
            coids = [o.client_order_id for o in desk.paper.orders()]
            assert len(coids) == len(set(coids))
            assert not desk.engine.book.unresolved()          # every one settled in the end
        finally:
            desk.close()


@PROPERTY
@given(markets(), st.floats(0.0, 1.0), st.integers(1, 400))
def test_engine_killed_anywhere_in_any_market_ends_as_the_uninterrupted_run(market, where, cut):
    """The orders process SIGKILLed at a random point of its journal (the paper broker keeping
    what it had) and restored from journal + market snapshot ends with the same journal, orders
    at the broker, fills, positions and day P&L as the run that never died."""
    ticks, intents, mod, options, loss_limit = market
    cuts = list(range(cut, len(ticks), cut))
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        ref = run_in_batches(a, ticks, intents, cuts, mod, options, loss_limit)
        n = len(ref.events)
        if n < 2:
            ref.close()
            return
        crashed = crash_and_restore_market(b, ticks, intents, cuts, int(where * (n - 1)), mod,
                                           options, loss_limit)
        try:
            assert outcome(crashed) == outcome(ref)
        finally:
            ref.close()
            crashed.close()


def run_in_batches(directory, ticks, intents, cuts, mod, options, loss_limit) -> Desk:
    desk = make_desk(directory, mod, options, loss_limit)
    for part, its in batches(ticks, intents, cuts):
        desk.engine.advance(part, its)
    return desk


def crash_and_restore_market(directory, ticks, intents, cuts, crash_at, mod, options, loss_limit):
    """As tests/orders/test_engine_determinism.py's crash_and_restore, on this test's desk."""
    journal, emit = crashing_journal(crash_at)

    desk = make_desk(directory, mod, options, loss_limit, emit=emit)
    parts, k, crashed, snapshot = batches(ticks, intents, cuts), 0, False, None
    while k < len(parts):
        try:
            if crashed:
                crashed = False
                desk.restart(journal, market=snapshot, emit=emit)
            snapshot = desk.engine.market_snapshot()
            desk.engine.advance(*parts[k])
            k += 1
        except Crash:
            crashed = True
    desk.events = journal
    return desk
