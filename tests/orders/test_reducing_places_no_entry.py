"""REDUCING: no order may add to a position. The risk gate denies new intents; the planner must not
place the missing entry slices of a bracket already open either (a slice not yet placed when the
process died, or one a retry would place). Its exits still run, and the slices go again once
trading is ACTIVE."""

import pytest

from common.messages import OrderSubmitting
from orders import statemachine as sm
from tests.orders.stubs import Tape, instruments, intent, of_type
from tests.orders.test_engine_determinism import Crash


def entries(desk) -> list:
    return [m for m in of_type(desk.events, OrderSubmitting) if m.role == "ENTRY"]


@pytest.fixture
def between_slices(make_desk):
    """A desk restarted with the first of two entry slices (freeze quantity 5) placed and the
    second never placed: the process died between them."""
    journal: list = []

    def emit(msg):
        if isinstance(msg, OrderSubmitting) and of_type(journal, OrderSubmitting):
            raise Crash()
        journal.append(msg)

    desk = make_desk(rows=instruments(freeze_qty=5), emit=emit)
    tape = Tape()
    tape.add(0, 100.0)
    with pytest.raises(Crash):
        desk.run(tape, [intent(1, qty=10, order_type="LIMIT", limit_price=99.0, stop_loss=97.0,
                               target=103.0)])
    desk.restart(journal, market=desk.engine.market_snapshot())
    return desk, tape


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
