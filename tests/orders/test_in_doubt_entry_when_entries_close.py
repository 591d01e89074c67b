"""An entry whose placement is in doubt and turns out never to have reached the broker is sent
again only while a new entry is allowed — whatever closed entries in the meantime.

tests/orders/test_in_doubt_entry_after_cutoff.py covers the cut-off and the night passing between
two ticks of one process. These are the other ways entries close while the entry waits for its
retry, each found breaking that rule:

- the orders process restarts after the cut-off (or the next morning): the restart resolves the
  entry on the dead process's market clock, where entries were still open, and sends it;
- the tick the retry is due on is the one that breaches the daily loss limit: the retry runs
  before the loss check halts trading, so the entry goes out and is canceled by the flatten a
  moment later (a MARKET entry at a live broker has filled by then);
- a flatten closed the entry's bracket and trading was resumed before the retry: the entry goes out
  for a bracket that no longer exists, and its fill is a position with no stop or target.
"""

import pytest

from common.errors import THROTTLED, BrokerRetryable
from common.messages import OrderRejected, OrderSubmitting
from orders.recovery import NOT_SENT
from tests.orders.risk_support import limits_of
from tests.orders.stubs import FlakyBroker, Tape, intent, ist_ns, of_type

DAY_NS = 86_400 * 10**9


def throttled(*placements):
    """FlakyBroker failures: these placements (1-based, over every process) refused by the
    adapter's throttle, never sent. One dict, shared by the restarted process's wrapper."""
    error = BrokerRetryable("throttled (client-side limit)", code=THROTTLED)
    return {n: ("before", error) for n in placements}


@pytest.mark.parametrize("back_at", [ist_ns(15, 0, 30), ist_ns(9, 30) + DAY_NS],
                         ids=["after the cut-off", "the next morning"])
def test_an_entry_in_doubt_at_a_crash_is_not_sent_by_the_restart_once_entries_closed(
        make_desk, back_at):
    failures = throttled(1)
    desk = make_desk(limits=limits_of(leg_prices="signal", entry_cutoff="15:00"),
                     wrap=lambda paper: FlakyBroker(paper, failures))
    tape = Tape(start_ns=ist_ns(14, 59, 59))
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])   # throttled: in doubt
    market = desk.engine.market_snapshot()

    desk.restart(list(desk.events), market=market)      # killed; back at `back_at`
    tape.add(0, 100.0, at_ns=back_at)
    desk.run(tape, start_seq=2)
    assert desk.paper.orders() == []                    # yesterday's / pre-cut-off entry never goes
    (rejected,) = of_type(desk.events, OrderRejected)
    assert rejected.code == NOT_SENT


def test_an_entry_in_doubt_is_not_sent_on_the_tick_the_daily_loss_limit_halts(make_desk):
    desk = make_desk(limits=limits_of(enforce_session=False, leg_prices="signal",
                                      daily_loss_limit_inr=50.0),
                     wrap=lambda paper: FlakyBroker(paper, throttled(2)))
    tape = Tape()
    tape.add(1, 100.0)
    desk.run(tape, [intent(1, instrument=1, qty=10)])    # long 10 of SYM1 ...
    tape.add(1, 100.0)
    desk.run(tape, start_seq=2)                          # ... filled at 100
    tape.add(0, 100.0)
    desk.run(tape, [intent(3, instrument=0, qty=5)], start_seq=3)    # throttled: in doubt
    tape.add(1, 90.0, at_ns=tape.next_ns + 2 * 10**9)    # -100 INR: the loss limit, retry due
    desk.run(tape, start_seq=4)
    assert desk.engine.trading_state == "HALTED"
    entries = [m for m in of_type(desk.events, OrderSubmitting) if m.role == "ENTRY"]
    assert len(entries) == 2                             # the first entry, and the throttled try
    assert len(desk.paper.orders()) == 2                 # the SYM1 entry and its flatten only
    assert of_type(desk.events, OrderRejected)[-1].code == NOT_SENT


def test_an_entry_in_doubt_whose_bracket_a_flatten_closed_is_not_sent_after_a_resume(make_desk):
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, throttled(1)))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])   # throttled: in doubt
    desk.engine.set_trading_state("HALTED", "operator: ctl halt")
    desk.engine.flatten_all("operator: ctl flatten")     # closes the bracket (nothing to close)
    desk.engine.set_trading_state("ACTIVE", "operator: ctl resume")
    tape.add(0, 100.0, at_ns=tape.next_ns + 2 * 10**9)   # the retry is due
    tape.add(0, 100.0)
    desk.run(tape, start_seq=2)
    assert desk.paper.orders() == [], "an entry sent for a bracket the flatten closed"
    assert not desk.engine.exposure.pos_qty.any()        # (it filled: 5 long, no stop, no target)
