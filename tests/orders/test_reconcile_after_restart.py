"""The start reconciliation of a restarted orders stage, on a real engine and paper broker.

Seen in CI (tests/chaos/test_exactly_once_brokers.py[upstox], seed 65573): orders was killed with
two entries accepted at the broker and not yet filled; the broker filled them while orders was
down. The restarted stage's start check saw the broker's positions ahead of ours (right: a fill
not read yet), held ticks to confirm 3 s later — and the engine read no broker report in those
3 s, because a restarted engine reads reports only after it has re-read the ticks up to its last
handled one, and the hold applied no tick. The difference was "confirmed", trading HALTED, and
every later entry of the run was denied.
"""

from common.messages import TradingStateChanged
from orders.onstop import FLATTEN_REASON, apply_stop_policy
from orders.reconciler import CONFIRM_S, Reconciler
from tests.orders.stubs import Tape, intent, of_type
from tests.orders.test_onstop import _stage
from tests.orders.test_reconcile import FakeBroker


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def restarted_after_a_fill_it_did_not_see(make_desk, *, market: bool):
    """A desk whose entry the broker filled while orders was down; orders restarted. `market`:
    whether the restart found the market snapshot of its last tick (the stage saves one per
    batch)."""
    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=95.0, target=110.0)])   # the entry: accepted
    snapshot = desk.engine.market_snapshot() if market else None
    desk.restart(list(desk.events), market=snapshot)
    later = tape.array(start_seq=tape.add(0, 100.1))
    desk.paper.on_ticks(later, 0, len(later))          # the broker fills it meanwhile
    assert [p.qty for p in desk.paper.positions() if p.qty] == [10]
    return desk, tape


def test_the_start_check_confirms_no_difference_once_the_restarted_engine_reads_the_fill(
    make_desk, tmp_path
):
    desk, _ = restarted_after_a_fill_it_did_not_see(make_desk, market=True)
    clock = Clock()
    symbols = [s.decode() for s in desk.rows["symbol"]]
    r = Reconciler(desk.engine, desk.broker, symbols, str(tmp_path), interval_s=0.0,
                   on_start=True, clock=clock)
    r.poll()
    assert r.holding and not r.outstanding          # seen once: a fill not read yet, maybe
    desk.engine.poll_broker()                       # the stage's step, while holding
    clock.t += CONFIRM_S
    r.poll()
    assert not r.outstanding and not r.holding, r.as_json()
    assert desk.engine.trading_state == "ACTIVE"
    assert desk.engine.positions()[0][0] == 10


def test_a_restarted_engine_without_its_market_snapshot_still_waits_for_its_last_tick(make_desk):
    """The catch-up is kept where it is needed: without the market state of its last handled tick
    the engine reads no report until that tick is re-read (the stage re-reads it while holding)."""
    desk, tape = restarted_after_a_fill_it_did_not_see(make_desk, market=False)
    assert desk.engine.catchup_seq == 1
    desk.engine.poll_broker()
    assert desk.engine.positions().get(0, (0,))[0] == 0
    desk.engine.advance(tape.array(start_seq=1)[:1])     # the stage's apply_ticks(through=1)
    assert desk.engine.catchup_seq == 0
    desk.engine.poll_broker()
    assert desk.engine.positions()[0][0] == 10


class _Recording:
    """The engine, as apply_ticks sees it: records the tick sequences it is handed."""

    def __init__(self):
        self.seqs: list[int] = []
        self.stats = {"duplicate_intents": 0, "broker_errors": 0, "throttled": 0}

    def advance(self, ticks):
        self.seqs.extend(int(s) for s in ticks["seq"])

    def market_snapshot(self):
        return None

    def first_pending_seq(self):
        return 0                  # no intent waits for its tick


def test_the_hold_re_reads_ticks_up_to_and_including_the_engines_catch_up_tick():
    """Seen in CI after the first fix (seed 305957): the stage's `apply_ticks(through=...)` stopped
    one tick short (the reader's cursor and the watermark are the *next* sequence), so the catch-up
    tick was never re-read, the engine never read the broker, and the run HALTED again."""
    import types

    import numpy as np

    from common.dtypes import TICK_DTYPE
    from common.latency import new_histogram
    from common.ringbuffer import RingReader, RingWriter, ShmRing
    from common.waits import YieldingWait
    from orders.stage import OrdersStage
    from tests.support import make_ticks, unique_segment

    ring = ShmRing.create(unique_segment("ring"), 16, TICK_DTYPE, readers=(("orders", True),))
    try:
        RingWriter(ring).write_batch(make_ticks(np.arange(1, 9)), timeout_s=0.0)   # seq 1..8
        stage = OrdersStage.__new__(OrdersStage)
        stage.reader = RingReader(ring, "orders", wait=YieldingWait())
        stage.buf = np.zeros(4, TICK_DTYPE)
        stage.watermark = 9                       # every tick's intents are in
        stage.engine = _Recording()
        stage.commit = lambda: None
        stage.last_intent_seq = 0
        stage.market = types.SimpleNamespace(save=lambda snapshot, cursor, intents_through: None)
        stage.intents = types.SimpleNamespace(commit=lambda cursor: None)
        stage.rt = types.SimpleNamespace(beat=lambda: None, count=lambda *a: None, row={},
                                         lat_ns=np.zeros(4, np.int64), set_count=lambda *a: None)
        stage.hist, stage._next_report = new_histogram(), 0
        assert stage.apply_ticks(through=5) == 5
        assert stage.engine.seqs == [1, 2, 3, 4, 5]
        stage.apply_ticks()                       # the hold is over: the rest
        assert stage.engine.seqs == list(range(1, 9))
        stage.reader.close()
    finally:
        ring.close()
        ring.unlink()


def test_after_a_supervisor_restart_the_fill_made_while_nothing_ran_is_read_before_any_tick(
    make_desk, tmp_path
):
    """Seen while fixing the above (left open one session): after a *supervisor* restart the new
    tick ring starts above the old marks, no market snapshot survives, and no tick has come yet.
    The engine waited for its catch-up tick, which will never be read again: the start check held,
    the engine read no broker report, the fill was "confirmed" as a difference — HALTED, and the
    bracket's legs (the OCO) not placed meanwhile."""
    import numpy as np

    from common.dtypes import TICK_DTYPE
    from common.ringbuffer import RingReader, ShmRing
    from common.waits import YieldingWait
    from orders.stage import OrdersStage
    from tests.support import unique_segment

    desk, _ = restarted_after_a_fill_it_did_not_see(make_desk, market=False)
    clock = Clock()
    symbols = [s.decode() for s in desk.rows["symbol"]]
    r = Reconciler(desk.engine, desk.broker, symbols, str(tmp_path), interval_s=0.0,
                   on_start=True, clock=clock)
    ring = ShmRing.create(unique_segment("ring"), 16, TICK_DTYPE, readers=(("orders", True),),
                          first_seq=1000)          # the new run's ring: above the old marks
    try:
        stage = OrdersStage.__new__(OrdersStage)
        stage.reader = RingReader(ring, "orders", wait=YieldingWait())
        stage.buf = np.zeros(4, TICK_DTYPE)
        stage.watermark = 1000                    # no tick yet
        stage.engine, stage.reconciler = desk.engine, r
        r.poll()
        assert r.holding and not r.outstanding    # seen once: the broker's fill, not read yet
        stage.follow_ticks()                      # the stage's step, while holding
        desk.engine.poll_broker()
        assert desk.engine.catchup_seq == 0
        assert desk.engine.positions()[0][0] == 10
        working = {o.client_order_id for o in desk.engine.book.working()}
        assert len(working) == 2, working          # the stop and the target: the OCO is managed
        clock.t += CONFIRM_S
        r.poll()
        assert not r.outstanding and not r.holding, r.as_json()
        assert desk.engine.trading_state == "ACTIVE"
        stage.reader.close()
    finally:
        ring.close()
        ring.unlink()


def test_a_stage_restart_with_ticks_still_to_re_read_keeps_waiting_for_them(make_desk):
    """The other side of the rule above: while the ring still holds the catch-up tick (a stage
    restart on the same ring), reaching it is still required before any report is read."""
    desk, _ = restarted_after_a_fill_it_did_not_see(make_desk, market=False)
    desk.engine.next_tick_is(1)                   # the reader's cursor: tick 1 is still to come
    desk.engine.poll_broker()
    assert desk.engine.catchup_seq == 1
    assert desk.engine.positions().get(0, (0,))[0] == 0
    desk.engine.next_tick_is(2)                   # the cursor past it: nothing left to re-read
    desk.engine.poll_broker()
    assert desk.engine.catchup_seq == 0 and desk.engine.positions()[0][0] == 10


def _halted_by_reconciliation_then_restarted(make_desk, tmp_path, *, then=None, bracket=False):
    """(desk, broker, reconciler): reconciliation halted trading on a position at the broker our
    journal never made (`then(engine)` acts after it), and orders restarted: the new process's
    start check confirms the same difference. `bracket`: a bracket of ours is open first (its
    entry filled, its legs working)."""
    desk, broker, clock = make_desk(), FakeBroker(), Clock()
    symbols = [s.decode() for s in desk.rows["symbol"]]
    if bracket:
        tape = Tape()
        tape.add(0, 100.0)
        desk.run(tape, [intent(1, qty=10, stop_loss=95.0, target=110.0)])
        desk.run(tape, start_seq=tape.add(0, 100.1))
        assert desk.engine.positions()[0][0] == 10 and desk.engine.book.working()

    def start_check() -> Reconciler:
        r = Reconciler(desk.engine, broker, symbols, str(tmp_path), interval_s=0.0,
                       on_start=True, clock=clock)
        r.poll()
        clock.t += CONFIRM_S
        r.poll()
        assert r.outstanding and desk.engine.trading_state == "HALTED", r.as_json()
        return r

    broker.pos = {0: 3}
    start_check()
    assert desk.engine.state_reason.startswith("reconcile:")
    if then is not None:
        then(desk.engine)
    desk.restart(list(desk.events))          # HALTED, for the journaled reasons
    return desk, broker, start_check()


def test_adopt_after_an_orders_restart_lifts_the_halt_reconciliation_made_before_it(
    make_desk, tmp_path
):
    """The restarted reconciler found trading already HALTED by the journal, so it did not count
    the halt as its own, and `ctl adopt` took the broker's view but left the trader HALTED."""
    desk, _, r = _halted_by_reconciliation_then_restarted(make_desk, tmp_path)
    r.adopt()
    assert desk.engine.trading_state == "ACTIVE" and r.allows_active()
    assert desk.engine.state_reason.startswith("operator adopted the broker's view")


def test_adopt_after_an_orders_restart_leaves_a_halt_the_operator_added_on_top(make_desk, tmp_path):
    desk, _, r = _halted_by_reconciliation_then_restarted(
        make_desk, tmp_path,
        then=lambda engine: engine.set_trading_state("HALTED", "operator: ctl halt"))
    r.adopt()
    assert desk.engine.trading_state == "HALTED" and r.allows_active()
    assert desk.engine.state_reason == "operator: ctl halt"


def test_adopt_after_a_stop_that_flattened_and_a_restart_leaves_the_stop_s_halt(
    make_desk, tmp_path
):
    """README: after a stop that flattened, a later start begins HALTED with the stop's reason and
    resuming is the operator's call (`ctl resume`). The stop found trading already HALTED by
    reconciliation and journaled no reason of its own: the halt would have read as
    reconciliation's alone, for `ctl adopt` to lift."""
    desk, _, r = _halted_by_reconciliation_then_restarted(
        make_desk, tmp_path, bracket=True,
        then=lambda engine: apply_stop_policy(_stage(engine, "flatten")))
    [*_, last] = of_type(desk.events, TradingStateChanged)
    assert (last.state, last.reason) == ("HALTED", FLATTEN_REASON)      # journaled on top
    r.adopt()
    assert desk.engine.trading_state == "HALTED" and desk.engine.state_reason == FLATTEN_REASON


def test_a_restarted_engine_knows_every_reason_its_halt_holds_for(make_desk):
    desk = make_desk()
    desk.engine.set_trading_state("HALTED", "reconcile: 1 difference(s) with the broker")
    desk.engine.set_trading_state("HALTED", "operator: ctl halt")
    held = ("reconcile: 1 difference(s) with the broker", "operator: ctl halt")
    assert desk.engine.halt_reasons == held
    desk.restart(list(desk.events))
    assert desk.engine.halt_reasons == held
    desk.engine.set_trading_state("ACTIVE", "operator: ctl resume")
    assert desk.engine.halt_reasons == ()
