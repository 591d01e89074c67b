"""risk.max_brackets_per_instrument: a strategy's second bracket on a name while its first is open
is denied BRACKET_OPEN (orders/risk.py), in the kernel and through the engine."""

import dataclasses

from common.messages import OrderDenied, OrderFilled, OrderSubmitting
from common.tradingstate import TradingState
from orders.risk import CODES, describe
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, of_type
from tests.orders.test_risk import LIMITS, check

ONE = dataclasses.replace(LIMITS, max_brackets_per_instrument=1)


def test_risk_when_the_strategy_has_a_bracket_open_on_the_instrument_then_denies_bracket_open():
    assert check(ONE, open_brackets=1) == CODES["BRACKET_OPEN"]
    assert check(ONE, open_brackets=0) == 0


def test_risk_when_max_brackets_per_instrument_is_zero_then_any_number_may_be_open():
    assert check(LIMITS, open_brackets=7) == 0


def test_risk_when_a_halt_and_an_open_bracket_both_deny_then_the_halt_is_the_reason():
    assert check(ONE, open_brackets=1, trading_state=TradingState.HALTED) == CODES["HALTED"]


def test_risk_bracket_open_text_names_the_rule():
    assert describe(CODES["BRACKET_OPEN"], open_brackets=1).startswith("BRACKET_OPEN: ")


def _limits(n):
    return limits_of(enforce_session=False, leg_prices="signal", max_brackets_per_instrument=n)


def _bracket(tick_seq, **kw):
    return intent(tick_seq, qty=1, stop_loss=99.0, target=101.0, **kw)


def test_engine_when_a_bracket_is_open_then_the_same_strategys_next_entry_on_it_is_denied(
    make_desk,
):
    desk, tape = make_desk(limits=_limits(1)), Tape()
    tape.add(0, 100.0)
    tape.add(1, 50.0)
    desk.run(tape, [_bracket(1)])
    tape.add(0, 100.0)                          # the entry fills; its stop and target work
    tape.add(0, 100.1)
    other_name = intent(4, instrument=1, qty=1, stop_loss=49.0, target=51.0)
    desk.run(tape, [_bracket(4), _bracket(4, strategy="other"), other_name], start_seq=3)
    (denied,) = of_type(desk.events, OrderDenied)
    assert denied.intent_id == "mac:0:4" and denied.reason_code == CODES["BRACKET_OPEN"]
    entries = [m.intent_id for m in of_type(desk.events, OrderSubmitting) if m.role == "ENTRY"]
    assert entries == ["mac:0:1", "other:0:4", "mac:1:4"]


def test_engine_when_the_bracket_has_exited_then_the_strategy_may_enter_again(make_desk):
    desk, tape = make_desk(limits=_limits(1)), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [_bracket(1)])
    tape.prices(0, [100.0, 101.0, 101.0])       # fill, then the target trades and fills
    desk.run(tape, start_seq=2)
    assert len(of_type(desk.events, OrderFilled)) == 2
    tape.add(0, 100.5)
    desk.run(tape, [_bracket(5)], start_seq=5)
    assert not of_type(desk.events, OrderDenied)
    entries = [m.intent_id for m in of_type(desk.events, OrderSubmitting) if m.role == "ENTRY"]
    assert entries == ["mac:0:1", "mac:0:5"]


def test_engine_without_the_limit_then_brackets_stack_as_before(make_desk):
    desk, tape = make_desk(limits=_limits(0)), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [_bracket(1)])
    tape.prices(0, [100.0, 100.1])
    desk.run(tape, [_bracket(3)], start_seq=2)
    assert not of_type(desk.events, OrderDenied)
