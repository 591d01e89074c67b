"""Every bracket path through the whole engine and the paper broker: legs, OCO, partial fills,
slicing, throttled exits, square-off and the kill switch."""

import pytest

from common.messages import (FlattenAll, OrderCanceled, OrderDenied, OrderFilled, OrderModified,
                             OrderSubmitting, TradingStateChanged)
from orders.risk import CODES
from tests.orders.risk_support import limits_of
from tests.orders.stubs import FlakyBroker, Tape, instruments, intent, ist_ns, of_type


def submitted(events, role=None):
    return [m for m in of_type(events, OrderSubmitting) if role is None or m.role == role]


def filled_qty(events, role):
    return sum(m.qty for m in of_type(events, OrderFilled) if m.role == role)


def open_bracket(desk, tape, qty=10, **kw):
    """Entry on tick 1 at 100; returns its intent (stop 98, target 103 unless given)."""
    tape.add(0, 100.0)
    it = intent(tape.seq, qty=qty, stop_loss=kw.pop("stop_loss", 98.0),
                target=kw.pop("target", 103.0), **kw)
    desk.run(tape, [it])
    return it


def test_bracket_entry_fill_places_stop_and_target_for_the_filled_quantity(make_desk):
    desk, tape = make_desk(), Tape()
    open_bracket(desk, tape)
    desk.run(tape, start_seq=tape.prices(0, [100.5]))
    stop, target = submitted(desk.events, "STOP"), submitted(desk.events, "TARGET")
    assert [(m.order_type, m.trigger_price, m.qty, m.side) for m in stop] == \
        [("SL-M", 98.0, 10, -1)]
    assert [(m.order_type, m.price, m.qty, m.side) for m in target] == [("LIMIT", 103.0, 10, -1)]
    assert stop[0].tick_seq == 2                    # placed on the entry's fill tick


def test_bracket_target_first_cancels_the_stop(make_desk):
    desk, tape = make_desk(), Tape()
    open_bracket(desk, tape)
    start = tape.seq + 1
    tape.prices(0, [101.0, 102.0, 103.0, 97.0])
    desk.run(tape, start_seq=start)
    assert filled_qty(desk.events, "TARGET") == 10 and filled_qty(desk.events, "STOP") == 0
    (canceled,) = of_type(desk.events, OrderCanceled)
    assert canceled.client_order_id == submitted(desk.events, "STOP")[0].client_order_id
    assert desk.engine.positions()[0][0] == 0


def test_bracket_stop_first_cancels_the_target(make_desk):
    desk, tape = make_desk(), Tape()
    open_bracket(desk, tape)
    start = tape.seq + 1
    tape.prices(0, [100.0, 99.0, 97.9, 104.0])
    desk.run(tape, start_seq=start)
    assert filled_qty(desk.events, "STOP") == 10 and filled_qty(desk.events, "TARGET") == 0
    (canceled,) = of_type(desk.events, OrderCanceled)
    assert canceled.client_order_id == submitted(desk.events, "TARGET")[0].client_order_id
    assert desk.engine.exposure.realised_net < 0


def test_bracket_partial_entry_fills_grow_the_exits(make_desk):
    desk, tape = make_desk(max_fill_qty_per_tick=4), Tape()
    open_bracket(desk, tape)
    start = tape.seq + 1
    tape.prices(0, [100.0, 100.0, 100.0])
    desk.run(tape, start_seq=start)
    assert filled_qty(desk.events, "ENTRY") == 10
    assert [m.qty for m in submitted(desk.events, "STOP")] == [4]
    stop_id = submitted(desk.events, "STOP")[0].client_order_id
    assert [m.qty for m in of_type(desk.events, OrderModified) if m.client_order_id == stop_id] == \
        [8, 10]


def test_bracket_partial_exit_fill_shrinks_the_other_leg_then_oco(make_desk):
    desk, tape = make_desk(max_fill_qty_per_tick=6), Tape()
    open_bracket(desk, tape)
    start = tape.seq + 1
    tape.prices(0, [100.0, 100.0, 103.0, 103.0])
    desk.run(tape, start_seq=start)
    stop_id = submitted(desk.events, "STOP")[0].client_order_id
    stop_mods = [m.qty for m in of_type(desk.events, OrderModified) if m.client_order_id == stop_id]
    assert stop_mods == [10, 4]                      # grown with the entry, shrunk by the target
    assert [m.client_order_id for m in of_type(desk.events, OrderCanceled)] == [stop_id]
    assert filled_qty(desk.events, "TARGET") == 10


def test_bracket_above_freeze_is_sliced_and_so_are_its_exits(make_desk):
    # nine placements in one second: the venue budget is the whole 10/s threshold (no margin)
    limits = limits_of(enforce_session=False, max_order_qty=300, max_order_notional_inr=1e6,
                       rate_margin_pct=0.0)
    desk, tape = make_desk(rows=instruments(1, freeze_qty=100), limits=limits), Tape()
    open_bracket(desk, tape, qty=250)
    desk.run(tape, start_seq=tape.prices(0, [100.0]))
    assert [m.qty for m in submitted(desk.events, "ENTRY")] == [100, 100, 50]
    assert [m.qty for m in submitted(desk.events, "STOP")] == [100, 100, 50]
    assert len({m.client_order_id for m in submitted(desk.events)}) == 9


def test_bracket_exits_wait_for_the_throttle_and_are_never_dropped(make_desk):
    limits = limits_of(enforce_session=False, rate_per_sec=2, rate_per_min=100, rate_per_day=100)
    desk, tape = make_desk(limits=limits), Tape(step_ms=100)
    open_bracket(desk, tape)
    start = tape.seq + 1
    tape.prices(0, [100.0] * 15)
    desk.run(tape, start_seq=start)
    entry, stop, target = (submitted(desk.events, r)[0] for r in ("ENTRY", "STOP", "TARGET"))
    assert stop.ts_event_ns - entry.ts_event_ns < 1_000_000_000
    assert target.ts_event_ns >= entry.ts_event_ns + 1_000_000_000
    assert desk.engine.stats["deferred_placements"] >= 1


def test_bracket_refused_stop_is_replaced_by_a_market_exit(make_desk):
    desk = make_desk(wrap=lambda b: FlakyBroker(b, refuse=lambda req: req.order_type == "SL-M"))
    tape = Tape()
    open_bracket(desk, tape)
    start = tape.seq + 1
    tape.prices(0, [100.0, 100.0])
    desk.run(tape, start_seq=start)
    assert [m.order_type for m in submitted(desk.events, "STOP")] == ["SL-M", "MARKET"]
    assert filled_qty(desk.events, "STOP") == 10
    assert desk.engine.positions()[0][0] == 0


def test_bracket_square_off_cancels_working_orders_and_closes_positions(make_desk):
    limits = limits_of(session_start="09:15", entry_cutoff="15:05", square_off="15:10")
    desk, tape = make_desk(limits=limits), Tape(start_ns=ist_ns(15, 4, 58), step_ms=1000)
    open_bracket(desk, tape)
    tape.add(0, 100.0)
    late = intent(tape.seq + 1, instrument=0)             # after the 15:05 cut-off
    start = tape.seq
    tape.prices(0, [100.0] * 3)
    tape.add(0, 100.5, at_ns=ist_ns(15, 10))
    tape.prices(0, [100.5] * 3)
    desk.run(tape, [late], start_seq=start)
    (denied,) = of_type(desk.events, OrderDenied)
    assert denied.reason_code == CODES["AFTER_ENTRY_CUTOFF"]
    assert len(of_type(desk.events, OrderCanceled)) == 2      # the stop and the target
    (close,) = submitted(desk.events, "SQUAREOFF")
    assert (close.side, close.qty, close.order_type) == (-1, 10, "MARKET")
    assert close.ts_event_ns == ist_ns(15, 10)
    assert desk.engine.positions()[0][0] == 0


def test_bracket_kill_switch_halts_cancels_and_flattens(make_desk):
    limits = limits_of(enforce_session=False, daily_loss_limit_inr=15.0)
    desk, tape = make_desk(limits=limits), Tape()
    open_bracket(desk, tape, stop_loss=90.0, target=110.0)
    tape.add(1, 50.0)
    working_entry = intent(tape.seq, instrument=1, order_type="LIMIT", limit_price=49.0)
    desk.run(tape, [working_entry], start_seq=1)
    start = tape.seq + 1
    tape.prices(0, [100.0, 99.5, 99.0, 98.4, 98.0])
    tape.add(1, 50.0)
    after = intent(tape.seq, instrument=1)
    desk.run(tape, [after], start_seq=start)
    (halt,) = of_type(desk.events, TradingStateChanged)
    assert halt.state == "HALTED" and desk.engine.trading_state == "HALTED"
    assert len(of_type(desk.events, FlattenAll)) == 1
    assert len(of_type(desk.events, OrderCanceled)) == 3     # stop, target, the working entry
    (flatten,) = submitted(desk.events, "FLATTEN")
    assert (flatten.side, flatten.qty) == (-1, 10)
    assert desk.engine.positions()[0][0] == 0
    assert of_type(desk.events, OrderDenied)[-1].reason_code == CODES["HALTED"]


def test_bracket_external_halt_cancels_entries_but_keeps_protecting_positions(make_desk):
    desk, tape = make_desk(), Tape()
    open_bracket(desk, tape)
    tape.add(0, 100.0)                                   # the entry fills
    tape.add(1, 50.0)
    resting = intent(tape.seq, instrument=1, order_type="LIMIT", limit_price=49.0)
    desk.run(tape, [resting], start_seq=2)
    desk.engine.set_trading_state("HALTED", "operator")
    (canceled,) = of_type(desk.events, OrderCanceled)
    assert canceled.client_order_id == submitted(desk.events, "ENTRY")[1].client_order_id
    start = tape.seq + 1
    tape.prices(0, [97.0])
    desk.run(tape, start_seq=start)
    assert filled_qty(desk.events, "STOP") == 10


@pytest.mark.parametrize("state", ["HALTED", "REDUCING"])
def test_bracket_exits_still_run_when_not_active(make_desk, state):
    desk, tape = make_desk(), Tape()
    open_bracket(desk, tape)
    desk.run(tape, start_seq=tape.prices(0, [100.0]))
    desk.engine.set_trading_state(state, "test")
    start = tape.seq + 1
    tape.prices(0, [103.0])
    desk.run(tape, start_seq=start)
    assert filled_qty(desk.events, "TARGET") == 10
