"""REDUCING: no order may add to a position. The risk gate denies new intents, and the entries of a
bracket open when REDUCING starts that are not at the broker yet end for good, as under a halt: its
missing slices are never placed, and an entry in doubt found never received is rejected NOT_SENT,
naming REDUCING — after ACTIVE again too (what was not sent must not go out hours later, at another
price). Entries working at the broker stay working (REDUCING cancels nothing) and exits still run.

Found: one REDUCING, two rules. An entry in doubt found absent was rejected for good, while a slice
not yet placed (the process died between two slices) waited and went once ACTIVE again, at any
age: the bracket opened minutes or hours after its signal, at a price it was never judged at.
"""

import pytest

from common.messages import OrderRejected, OrderSubmitting
from orders import statemachine as sm
from orders.recovery import NOT_SENT
from tests.orders.stubs import FlakyBroker, Tape, intent, of_type
from tests.orders.test_in_doubt_entry_at_a_halt import (lost, restarted_between_two_slices,
                                                       until_the_retry)

REDUCE, RESUME = "operator: ctl reduce", "operator: ctl resume"


def entries(desk) -> list:
    return [m for m in of_type(desk.events, OrderSubmitting) if m.role == "ENTRY"]


@pytest.fixture
def between_slices(make_desk):
    return restarted_between_two_slices(make_desk)


def test_a_missing_entry_slice_is_never_placed_once_reducing_met_it(between_slices):
    desk, tape = between_slices
    desk.engine.set_trading_state("REDUCING", REDUCE)
    start = tape.seq + 1
    tape.prices(0, [100.0, 100.5, 100.0])
    desk.run(tape, start_seq=start)
    assert len(desk.paper.orders()) == 1, "a REDUCING engine placed an entry slice"
    assert desk.paper.orders()[0].status == sm.ACCEPTED      # the working slice is left as it is
    # ... and once ACTIVE again the slice REDUCING met is still never placed.
    desk.engine.set_trading_state("ACTIVE", RESUME)
    start = tape.seq + 1
    tape.prices(0, [100.0, 100.0])
    desk.run(tape, start_seq=start)
    assert [m.qty for m in entries(desk)] == [5]
    assert desk.paper.orders()[0].status == sm.ACCEPTED      # still working: REDUCING cancels none


def test_an_entry_in_doubt_found_absent_is_rejected_naming_reducing_also_after_active(make_desk):
    # Same rule for an entry whose placement was lost: REDUCING, then ACTIVE before its retry; the
    # retry finds it never received and rejects it, naming REDUCING.
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("never received", 1)))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    desk.engine.set_trading_state("REDUCING", REDUCE)
    desk.engine.set_trading_state("ACTIVE", RESUME)
    until_the_retry(desk, tape)
    assert desk.paper.orders() == []
    (rejected,) = of_type(desk.events, OrderRejected)
    assert rejected.code == NOT_SENT and "REDUCING" in rejected.reason
    assert len(entries(desk)) == 1
    assert not desk.engine.desk.active                     # the bracket ended with its entry


def test_the_exits_of_a_reducing_bracket_still_run(between_slices):
    desk, tape = between_slices
    desk.engine.set_trading_state("REDUCING", REDUCE)
    start = tape.seq + 1
    tape.prices(0, [99.0])                                   # the placed slice fills: 5 long
    tape.prices(0, [103.0])                                  # its target
    desk.run(tape, start_seq=start)
    assert not desk.engine.exposure.pos_qty.any()
    assert len(entries(desk)) == 1
