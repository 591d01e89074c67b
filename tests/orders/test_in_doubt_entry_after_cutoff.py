"""An entry whose placement was in doubt (its answer lost, or refused by the adapter's own throttle)
and turns out never to have reached the broker is sent again only while entries are open.

Found by tests/orders/test_engine_properties.py (placements throttled or lost): an entry refused by
the throttle at 09:15:01 was looked at again on the next tick, 15:10, and sent then: an entry after
the entry cut-off, opening a position at the square-off. Now it is rejected with code NOT_SENT and
reason, and its bracket ends as a refused entry's does; exits in the same spot are still sent.
"""

import pytest

from common.errors import THROTTLED, BrokerRetryable
from common.messages import OrderRejected, OrderSubmitting
from orders.recovery import NOT_SENT
from tests.orders.risk_support import limits_of
from tests.orders.stubs import FlakyBroker, Tape, intent, ist_ns, of_type

LOST = {
    "throttled": ("before", BrokerRetryable("throttled (client-side limit)", code=THROTTLED)),
    "timeout before": ("before", BrokerRetryable("read timeout")),
}


def placed_at(make_desk, at_ns: int, failing: int, how: str = "throttled"):
    """A desk whose `failing`-th placement is lost `how`, and its tape, one bracket's intent
    raised on a tick at `at_ns`."""
    desk = make_desk(limits=limits_of(leg_prices="signal", entry_cutoff="15:00"),
                     wrap=lambda paper: FlakyBroker(paper, {failing: LOST[how]}))
    tape = Tape(start_ns=at_ns)
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    return desk, tape


@pytest.mark.parametrize("how", sorted(LOST))
def test_an_entry_in_doubt_across_the_cut_off_is_not_sent_after_it(make_desk, how):
    desk, tape = placed_at(make_desk, ist_ns(14, 59, 59.5), 1, how)
    (entry,) = of_type(desk.events, OrderSubmitting)
    tape.add(0, 100.0, at_ns=ist_ns(15, 0, 5))            # the retry is due, after the cut-off
    desk.run(tape, start_seq=2)
    (rejected,) = of_type(desk.events, OrderRejected)
    assert (rejected.client_order_id, rejected.code) == (entry.client_order_id, NOT_SENT)
    assert "entries have closed" in rejected.reason
    assert desk.paper.orders() == []                       # nothing ever reached the broker
    assert len(of_type(desk.events, OrderSubmitting)) == 1
    assert not desk.engine.desk.active                     # the bracket ended with its entry


def test_an_entry_in_doubt_overnight_is_not_sent_the_next_morning(make_desk):
    # No tick between the lost placement and the next session: entries are open again then, but
    # yesterday's intraday entry must never go.
    desk, tape = placed_at(make_desk, ist_ns(14, 59, 59), 1)
    tape.add(0, 100.0, at_ns=ist_ns(14, 59, 59) + 86_400 * 10**9 - 5 * 3600 * 10**9)  # 09:59:59
    desk.run(tape, start_seq=2)
    (rejected,) = of_type(desk.events, OrderRejected)
    assert rejected.code == NOT_SENT and desk.paper.orders() == []


def test_the_same_entry_before_the_cut_off_is_sent(make_desk):
    desk, tape = placed_at(make_desk, ist_ns(14, 58), 1)
    tape.add(0, 100.0, at_ns=ist_ns(14, 58, 5))
    desk.run(tape, start_seq=2)
    assert not of_type(desk.events, OrderRejected)
    assert [o.client_order_id for o in desk.paper.orders()] == \
        [of_type(desk.events, OrderSubmitting)[0].client_order_id]


def test_an_exit_in_doubt_across_the_cut_off_is_still_sent(make_desk):
    # The entry fills before the cut-off; the stop leg's placement is refused by the throttle and
    # is due again after it: an exit reduces risk, it goes.
    desk, tape = placed_at(make_desk, ist_ns(14, 59, 58), 2)
    tape.add(0, 100.0)                                     # the entry fills; the stop is refused
    desk.run(tape, start_seq=2)
    stop = next(m for m in of_type(desk.events, OrderSubmitting) if m.role == "STOP")
    tape.add(0, 100.0, at_ns=ist_ns(15, 0, 5))
    desk.run(tape, start_seq=3)
    assert not of_type(desk.events, OrderRejected)
    assert stop.client_order_id in {o.client_order_id for o in desk.paper.orders()}
