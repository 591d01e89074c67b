"""The daily loss limit's halt ends with its day, but — as for the operator's resume — only once its
flatten is done: no position open, no order of ours working or in doubt.

Found: the automatic ACTIVE on the next trading day skipped that check. A flatten close whose
placement was in doubt overnight (the broker's book unreadable at its lookups) left the morning
ACTIVE with the position still open and the flatten mode ended: a position that nothing managed
any more (its bracket closed by the flatten), and new intents approved beside it. Now the morning
waits, HALTED, until the flatten is done, then resumes and says so.
"""

from common.messages import OrderDenied, TradingStateChanged
from orders import statemachine as sm
from tests.orders.risk_support import limits_of
from tests.orders.stubs import FlakyBroker, Tape, intent, ist_ns, of_type
from tests.orders.test_day_edges import next_day
from tests.orders.test_in_doubt_entry_at_a_halt import BlindLookups, lost


def test_the_next_day_resumes_only_once_the_loss_limits_flatten_is_done(make_desk):
    limits = limits_of(enforce_session=False, leg_prices="signal", daily_loss_limit_inr=50.0)
    failures = lost("never received", 2)
    desk = make_desk(limits=limits, wrap=lambda paper: FlakyBroker(paper, failures))
    lookups = BlindLookups(desk.broker)
    desk.engine.gateway.broker = lookups
    tape = Tape(start_ns=ist_ns(14, 0))
    tape.add(1, 100.0)
    desk.run(tape, [intent(1, instrument=1, qty=10)])      # long 10 of SYM1 ...
    desk.run(tape, start_seq=tape.add(1, 100.0))           # ... filled at 100
    lookups.blind = True
    desk.run(tape, start_seq=tape.add(1, 90.0))            # -100 INR: HALTED, and the flatten's
    eng = desk.engine                                      # close is lost, looked up in vain
    assert eng.trading_state == "HALTED" and eng.flattening
    (close,) = [o for o in eng.book.orders.values() if o.role == "FLATTEN"]
    assert close.status == sm.IN_DOUBT

    start = tape.add(1, 100.0, at_ns=next_day(9, 20))      # the next morning, SYM1 back at 100
    seq = tape.add(0, 100.0, at_ns=next_day(9, 20, 0.1))   # (no loss today): the close unknown
    desk.run(tape, [intent(seq, qty=5)], start_seq=start)
    assert eng.trading_state == "HALTED", "ACTIVE with the flatten's close still in doubt"
    assert eng.flattening and eng.positions()[1][0] == 10
    assert of_type(desk.events, OrderDenied)[-1].reason.startswith("HALTED")

    lookups.blind = False                                  # the close is found never received,
    start = tape.seq + 1                                   # sent again, and fills
    for k in range(1, 6):
        tape.add(1, 100.0, at_ns=next_day(9, 20, k))
    desk.run(tape, start_seq=start)
    assert eng.positions()[1][0] == 0
    last = of_type(desk.events, TradingStateChanged)[-1]
    assert last.state == "ACTIVE" and "flatten is done" in last.reason
    assert not eng.flattening
