"""An engine restored from a snapshot plus the journal's tail is the engine restored from the whole
journal, and ends as the run that never died (orders/snapshot.py).

The snapshot is taken at a random point of the journal (any prefix: the stage's writer takes them
only after a commit, a subset of these), the process is killed at a random later point, and the
restart loads the snapshot, applies only the tail and goes on: on random multi-day markets
(tests/orders/test_engine_properties.py's), so snapshots fall across IST day rolls, with brackets
working, a flatten or a loss-limit halt in flight, and half-handled ticks.
"""

import tempfile

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from common.clock import ist_midnight_ns
from common.messages import FlattenAll, TicksProcessed, TradingStateChanged
from orders import snapshot
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.scenario import batches, desk_options, market_day
from tests.orders.stubs import Desk
from tests.orders.test_engine_determinism import Crash, crashing_journal, outcome
from tests.orders.test_engine_properties import (EXAMPLES, PROPERTY, make_desk, markets,
                                                 run_in_batches)

# A sixth of the engine properties' examples by default (~2 s each here): they search the same
# markets, with a snapshot point on top; OTRADE_PROPERTY_EXAMPLES scales both.
SNAPSHOT_PROPERTY = settings(PROPERTY, max_examples=max(1, EXAMPLES // 6))


def _engine(desk, broker, emit) -> OrderEngine:
    return OrderEngine(desk.rows, desk.limits, FeeSchedule("zerodha"), broker, emit,
                       stop_order_type=desk.stop_order_type)


def _never(msg):
    raise AssertionError(f"the shadow emitted {msg!r}")


def snapshot_of(desk, events, piece: int) -> bytes:
    """What the stage's writer stores after the journal's first len(events) records: a shadow
    engine that only applied them, pickled piece by piece."""
    shadow = _engine(desk, None, _never)
    for msg in events:
        shadow._apply(msg)
    cap = snapshot.Capture(shadow, size=piece)
    while not cap.step(0):          # one piece per step: the spread-out write at its finest
        pass
    return cap.payload()


def view(engine) -> tuple:
    """Everything restore rebuilt, comparable: orders, brackets, positions, windows, fields."""
    b, d, ex = engine.book, engine.desk, engine.exposure
    orders = [snapshot._REDUCERS[type(o)](o)[1] for o in b.orders.values()]
    index = {name: list(getattr(b, name)) for name in
             ("by_broker_id", "_working", "_working_entries", "_working_closes",
              "_working_sl_stops", "_unresolved")}
    closes = {k: [o.client_order_id for o in v] for k, v in b._closes_on.items()}
    brackets = [(snapshot._REDUCERS[type(x)](x)[1]) for x in d.brackets.values()]
    desk = (list(d.active), {k: list(v) for k, v in d._active_on.items()}, sorted(d.touched),
            sorted(d.through_market), [o.client_order_id for o in d._sl_stops],
            sorted(d._reach._share.items()), sorted(d._reach._sum.items()),
            {k: list(v) for k, v in d._reach._stale.items()})
    arrays = {k: v.tolist() for k, v in vars(ex).items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in vars(ex).items() if not isinstance(v, np.ndarray)}
    # every plain field of the engine, not only the ones the snapshot means to carry
    fields = {k: sorted(v) if isinstance(v, set) else v for k, v in vars(engine).items()
              if isinstance(v, (bool, int, float, str, set, list, tuple, dict))}
    return (orders, index, closes, sorted(b.fill_ids), brackets, desk, arrays, scalars,
            engine.throttle._times, engine.throttle._venues, fields)


def crash_and_restore_from_snapshot(directory, ticks, intents, cuts, crash_at, snap_frac, piece,
                                    mod, options, loss_limit):
    """As test_engine_properties' crash_and_restore_market, the restart loading a snapshot taken
    at `snap_frac` of the journal it finds, then its tail; also checks that engine against one
    restored from the whole journal."""
    journal, emit = crashing_journal(crash_at)
    seen: dict = {}

    desk = make_desk(directory, mod, options, loss_limit, emit=emit)
    parts, k, crashed, market = batches(ticks, intents, cuts), 0, False, None
    while k < len(parts):
        try:
            if crashed:
                crashed = False
                at = int(snap_frac * len(journal))
                seen.update(label(journal, at))
                full = _engine(desk, None, _never)
                full.restore(list(journal), market=market)
                restart_from_snapshot(desk, journal, at, market, emit, piece)
                assert view(desk.engine) == view(full), "snapshot + tail != the whole journal"
                desk.engine.resolve_in_doubt()
            market = desk.engine.market_snapshot()
            desk.engine.advance(*parts[k])
            k += 1
        except Crash:
            crashed = True
    desk.events = journal
    for name in seen:
        event(name)
    return desk


def restart_from_snapshot(desk, journal, at, market, emit, piece) -> None:
    """Desk.restart (a new process: a new broker object on the same paper journal), its engine
    loaded from the snapshot of journal[:at] and restored from journal[at:] only."""
    payload = snapshot_of(desk, journal[:at], piece)
    desk.paper.close()
    desk.paper = desk._open_broker()
    desk.broker = desk.wrap(desk.paper) if desk.wrap else desk.paper
    desk.events = list(journal)
    desk.engine = _engine(desk, desk.broker, emit)
    snapshot.put(desk.engine, payload)
    desk.engine.restore(journal[at:], market=market)


def label(journal, at) -> dict:
    """What the snapshot point falls into, for hypothesis' statistics."""
    marks = [m.ts_event_ns for m in journal[:at] if isinstance(m, TicksProcessed)]
    later = [m.ts_event_ns for m in journal[at:] if isinstance(m, TicksProcessed)]
    out = {}
    if marks and later and ist_midnight_ns(later[-1]) > ist_midnight_ns(marks[-1]):
        out["snapshot: a day roll in the tail"] = 1
    states = [m.state for m in journal[:at] if isinstance(m, TradingStateChanged)]
    if states and states[-1] == "HALTED":
        out["snapshot: halted"] = 1
    if any(isinstance(m, FlattenAll) for m in journal[:at]):
        out["snapshot: after a flatten"] = 1
    if any(isinstance(m, FlattenAll) for m in journal[at:]):
        out["snapshot: a flatten in the tail"] = 1
    if 0 < at < len(journal):
        out["snapshot: mid-journal"] = 1
    return out


@SNAPSHOT_PROPERTY
@given(markets(), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(1, 400),
       st.sampled_from([1, 3, 1000]))
def test_engine_restored_from_snapshot_and_tail_ends_as_the_uninterrupted_run(
        market, snap_frac, where, cut, piece):
    """Killed anywhere, restarted from a snapshot taken anywhere before: the same engine state as
    a restore from the whole journal, then the same journal, orders at the broker, fills,
    positions and day P&L as the run that never died."""
    ticks, intents, mod, options, loss_limit = market
    cuts = list(range(cut, len(ticks), cut))
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        ref = run_in_batches(a, ticks, intents, cuts, mod, options, loss_limit)
        n = len(ref.events)
        if n < 2:
            ref.close()
            return
        crashed = crash_and_restore_from_snapshot(b, ticks, intents, cuts, int(where * (n - 1)),
                                                  snap_frac, piece, mod, options, loss_limit)
        try:
            assert outcome(crashed) == outcome(ref)
        finally:
            ref.close()
            crashed.close()


@SNAPSHOT_PROPERTY
@given(markets(), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4), st.integers(1, 400))
def test_engine_from_a_snapshot_anywhere_in_a_days_journal_equals_the_whole_journal(
        market, points, cut):
    """The whole journal of a run (halts, flattens, square-offs, day rolls included), a snapshot
    at random points of it: loaded and given the rest, the engine restore rebuilds from it all."""
    ticks, intents, mod, options, loss_limit = market
    with tempfile.TemporaryDirectory() as a:
        desk = run_in_batches(a, ticks, intents, list(range(cut, len(ticks), cut)), mod, options,
                              loss_limit)
        journal, market_now = list(desk.events), desk.engine.market_snapshot()
        desk.close()
    full = _engine(desk, None, _never)
    full.restore(journal, market=market_now)
    for frac in points:
        at = int(frac * len(journal))
        for name in label(journal, at):
            event(name)
        engine = _engine(desk, None, _never)
        snapshot.put(engine, snapshot_of(desk, journal[:at], 5))
        engine.restore(journal[at:], market=market_now)
        assert view(engine) == view(full), f"diverged with a snapshot at event {at}"


def test_engine_from_snapshot_at_every_tenth_of_a_kill_switch_day_equals_the_whole_journal(
        tmp_path):
    """A day whose loss limit halts and flattens: a snapshot at each tenth of its journal, loaded
    and given the rest, is the engine the whole journal restores."""
    ticks, intents = market_day(3)
    desk = Desk(str(tmp_path), **desk_options(60.0))
    for t, its in batches(ticks, intents, [400, 900, 1500]):
        desk.engine.advance(t, its)
    journal = list(desk.events)
    assert any(isinstance(m, FlattenAll) for m in journal)
    full = _engine(desk, None, _never)
    full.restore(journal, market=desk.engine.market_snapshot())
    for at in np.linspace(0, len(journal), 11).astype(int):
        engine = _engine(desk, None, _never)
        snapshot.put(engine, snapshot_of(desk, journal[:at], 7))
        engine.restore(journal[at:], market=desk.engine.market_snapshot())
        assert view(engine) == view(full), f"diverged with a snapshot at event {at}"
    desk.close()
