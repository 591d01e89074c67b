"""THE determinism contract: the engine is a pure function of (ticks, intents).

However the stream is cut into batches, and wherever the orders process dies (its journal holding a
prefix of the events, the paper broker holding whatever it had journaled), the engine ends with the
same events, the same orders at the broker, the same fills, positions and P&L.
"""

import numpy as np
import pytest

from common.messages import OrderAccepted, OrderFilled, TicksProcessed
from tests.orders.scenario import batches, desk_options, market_day, random_cuts
from tests.orders.stubs import Desk, FlakyBroker, comparable

SEEDS = (0, 1)


class Crash(Exception):
    """The orders process was SIGKILLed here."""


def crashing_journal(crash_at=None):
    """(journal, emit): `emit` appends to `journal`, except that the event that would become its
    `crash_at`-th (0-based) raises Crash instead, once (None: never)."""
    journal: list = []
    crash = [] if crash_at is None else [crash_at]

    def emit(msg):
        if crash and len(journal) == crash[0]:
            crash.pop()
            raise Crash()
        journal.append(msg)

    return journal, emit


def broker_state(desk):
    b = desk.paper
    return ([(o.client_order_id, o.status, o.qty, o.filled_qty, o.price, o.trigger_price)
             for o in b.orders()], [(t.trade_id, t.qty, t.price, t.tick_seq) for t in b.trades()],
            b.positions())


def events_of(desk):
    """Comparable events; a cancel's free-text reason is dropped: a cancel confirmed by the broker
    but not journaled before the crash is recovered from the broker's book, which knows no
    reason."""
    return [e if e[0] != "OrderCanceled" else tuple(f for f in e if f[0] != "reason")
            for e in comparable(desk.events)]


def outcome(desk):
    return (events_of(desk), broker_state(desk), desk.engine.positions(),
            desk.engine.exposure.realised_net)


def run_uninterrupted(tmp_path, name, ticks, intents, cuts, **options):
    desk = Desk(_dir(tmp_path, name), **{**desk_options(), **options})
    marks = []                     # per batch: (events before it, market snapshot before it)
    for t, its in batches(ticks, intents, cuts):
        marks.append((len(desk.events), desk.engine.market_snapshot()))
        desk.engine.advance(t, its)
    return desk, marks


def _dir(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    return str(d)


@pytest.mark.parametrize("seed", SEEDS)
def test_engine_same_stream_cut_into_different_batches_gives_identical_events(tmp_path, seed):
    ticks, intents = market_day(seed)
    rng = np.random.default_rng(100 + seed)
    cuttings = [[], list(range(1, len(ticks))), random_cuts(rng, 60, 40), random_cuts(rng, 8, 300)]
    results = []
    for i, cuts in enumerate(cuttings):
        desk, _ = run_uninterrupted(tmp_path, f"cut{i}", ticks, intents, cuts)
        results.append(outcome(desk))
        desk.close()
    assert len(results[0][0]) > 300
    for other in results[1:]:
        assert other == results[0]


def test_engine_kill_switch_run_is_deterministic_too(tmp_path):
    ticks, intents = market_day(3)
    a, _ = run_uninterrupted(tmp_path, "a", ticks, intents, [], **desk_options(60.0))
    cuts = random_cuts(np.random.default_rng(0), 50, 50)
    b, _ = run_uninterrupted(tmp_path, "b", ticks, intents, cuts, **desk_options(60.0))
    assert any(type(m).__name__ == "FlattenAll" for m in a.events)
    assert outcome(a) == outcome(b)
    a.close()
    b.close()


def crash_and_restore(tmp_path, name, ticks, intents, cuts, *, crash_at=(), wrap=None, **options):
    """Run the stream the way the orders stage does, dying (SIGKILL) whenever the journal reaches
    one of the `crash_at` lengths (also during a recovery), and restarting each time from the
    journal and the market snapshot committed with the tick cursor at the start of the interrupted
    batch."""
    journal, pending = [], sorted(crash_at)

    def emit(msg):
        if pending and len(journal) == pending[0]:
            pending.pop(0)
            raise Crash()
        journal.append(msg)

    desk = Desk(_dir(tmp_path, name), emit=emit, wrap=wrap, **{**desk_options(), **options})
    parts = batches(ticks, intents, cuts)
    b, crashed, crashes, snapshot = 0, False, 0, None
    while b < len(parts):
        try:
            if crashed:
                crashed = False
                desk.restart(journal, market=snapshot, emit=emit)
            snapshot = desk.engine.market_snapshot()     # the stage commits cursor + snapshot here
            desk.engine.advance(*parts[b])
            b += 1
        except Crash:
            crashed, crashes = True, crashes + 1
    assert crashes >= 1, "the run never crashed"
    desk.events = journal
    return desk


CUTS = [150, 400, 700, 1000, 1300, 1700, 2000]


@pytest.mark.parametrize("seed,loss_limit", [(0, 1e9), (1, 1e9), (3, 60.0)])
def test_engine_restore_at_any_journal_prefix_equals_the_uninterrupted_run(tmp_path, seed,
                                                                           loss_limit):
    ticks, intents = market_day(seed)
    options = desk_options(loss_limit)
    ref, _ = run_uninterrupted(tmp_path, "ref", ticks, intents, CUTS, **options)
    expected = outcome(ref)
    kinds = [type(m) for m in ref.events]
    # The journal ends: with a Submitting whose order the broker accepted (the ack is lost); just
    # before a Filled the broker made (the journal lacks it); in the middle of a tick's handling,
    # just after its marker; and at points spread over the day (square-off / kill switch included).
    points = {kinds.index(OrderAccepted), kinds.index(OrderFilled),
              kinds.index(TicksProcessed, 5) + 1, len(kinds) - 3}
    points |= set(np.linspace(1, len(kinds) - 1, 14).astype(int).tolist())
    for p in sorted(points):
        desk = crash_and_restore(tmp_path, f"crash{p}", ticks, intents, CUTS, crash_at=[p],
                                 **options)
        assert outcome(desk) == expected, f"diverged after a crash at event {p}"
        desk.close()
    ref.close()


@pytest.mark.parametrize("after", [False, True])
def test_engine_crash_inside_place_is_resolved_by_lookup_without_duplicates(tmp_path, after):
    ticks, intents = market_day(0)
    ref, _ = run_uninterrupted(tmp_path, "ref", ticks, intents, CUTS)
    for n in (1, 7, 40):
        failure = {n: ("after" if after else "before", Crash())}
        wrap = lambda b: FlakyBroker(b, failure)  # noqa: E731
        desk = crash_and_restore(tmp_path, f"place{n}", ticks, intents, CUTS, wrap=wrap)
        assert outcome(desk) == outcome(ref), f"diverged after a crash in place #{n}"
        ids = [o.client_order_id for o in desk.paper.orders()]
        assert len(ids) == len(set(ids))
        desk.close()
    ref.close()


@pytest.mark.parametrize("crashes", [(120, 121), (300, 302, 303, 900), (1, 2, 3)])
def test_engine_crashes_during_recovery_still_converge(tmp_path, crashes):
    ticks, intents = market_day(1)
    ref, _ = run_uninterrupted(tmp_path, "ref", ticks, intents, CUTS)
    desk = crash_and_restore(tmp_path, "crashy", ticks, intents, CUTS, crash_at=crashes)
    assert outcome(desk) == outcome(ref)
    desk.close()
    ref.close()
