"""REDUCING: no order may add to a position. The risk gate denies new intents; the planner must not
place the missing entry slices of a bracket already open either (a slice not yet placed when the
process died, or one a retry would place). Its exits still run, and the slices go again once
trading is ACTIVE."""

import pytest

from common.messages import OrderSubmitting
from orders import statemachine as sm
from tests.orders.stubs import of_type
from tests.orders.test_in_doubt_entry_at_a_halt import restarted_between_two_slices


def entries(desk) -> list:
    return [m for m in of_type(desk.events, OrderSubmitting) if m.role == "ENTRY"]


@pytest.fixture
def between_slices(make_desk):
    return restarted_between_two_slices(make_desk)


def test_a_missing_entry_slice_is_not_placed_while_reducing(between_slices):
    desk, tape = between_slices
    desk.engine.set_trading_state("REDUCING", "operator: ctl reduce")
    desk.run(tape, start_seq=tape.prices(0, [100.0, 100.5, 100.0]))
    assert len(desk.paper.orders()) == 1, "a REDUCING engine placed an entry slice"
    assert desk.paper.orders()[0].status == sm.ACCEPTED      # the working slice is left as it is
    # ... and once ACTIVE again the bracket completes its entry.
    desk.engine.set_trading_state("ACTIVE", "operator: ctl resume")
    desk.run(tape, start_seq=tape.prices(0, [100.0]))
    assert [m.qty for m in entries(desk)] == [5, 5]


def test_the_exits_of_a_reducing_bracket_still_run(between_slices):
    desk, tape = between_slices
    desk.engine.set_trading_state("REDUCING", "operator: ctl reduce")
    start = tape.prices(0, [99.0])                           # the placed slice fills: 5 long
    tape.prices(0, [103.0])                                  # its target
    desk.run(tape, start_seq=start)
    assert not desk.engine.exposure.pos_qty.any()
    assert len(entries(desk)) == 1
