"""`ctl flatten` (HALTED + FlattenAll) meets an entry in doubt, on the engine with the paper broker.

Found: the flatten closes every bracket (their legs are never placed again) and cancels every order
it can name at the broker, but an entry whose placement is in doubt has no broker id yet. With the
book unreadable at that moment (the halt's lookup failed), the flatten looked done — nothing open,
no close working — so `ctl resume` was let through; the entry's retry then found it working at the
broker, and it filled with its bracket closed: a position with no stop, no target and no flatten
left to close it. Now a resume is refused while the flatten is not done, which includes an order of
ours still working or in doubt; the sweep cancels the entry once a lookup finds it.

Also found: an order in doubt that the broker has already canceled (by hand, the exchange, an
expiry) was journaled accepted and nothing more, so the book held it working for ever: the halt's
cancel met "already final" and waited for a report that never came, its bracket never ended, and
(with the rule above) the flatten could never be done.
"""

from common.messages import OrderAccepted, OrderCanceled
from orders import statemachine as sm
from tests.orders.stubs import FlakyBroker, Tape, intent, of_type
from tests.orders.test_in_doubt_entry_at_a_halt import (HALT, RESUME, BlindLookups, lost,
                                                       until_the_retry)

FLATTEN = "operator: ctl flatten"


def resting_entry_in_doubt(make_desk):
    """A desk whose first placement, a LIMIT entry at 99 (market 100), reached the broker and its
    answer was lost; its lookups go through `BlindLookups`. Returns (desk, tape, lookups)."""
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("received", 1)))
    lookups = BlindLookups(desk.broker)
    desk.engine.gateway.broker = lookups
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, order_type="LIMIT", limit_price=99.0, stop_loss=97.0,
                           target=103.0)])
    assert desk.engine.book.unresolved()
    return desk, tape, lookups


def test_a_resume_is_refused_while_an_entry_the_flatten_met_is_in_doubt(make_desk):
    desk, tape, lookups = resting_entry_in_doubt(make_desk)
    lookups.blind = True                        # the halt's lookup cannot read the book
    desk.engine.set_trading_state("HALTED", FLATTEN)
    desk.engine.flatten_all(FLATTEN)
    desk.engine.set_trading_state("ACTIVE", RESUME)
    assert desk.engine.trading_state == "HALTED" and desk.engine.flattening
    assert "resume refused" in desk.engine.state_reason
    lookups.blind = False
    until_the_retry(desk, tape)                 # found working at the broker: the sweep cancels it
    desk.run(tape, start_seq=tape.add(0, 98.0))     # through its limit: it would fill
    (at_broker,) = desk.paper.orders()
    assert at_broker.status == sm.CANCELED and at_broker.filled_qty == 0
    assert not desk.engine.exposure.pos_qty.any()
    desk.engine.set_trading_state("ACTIVE", RESUME)          # now the flatten is done
    assert desk.engine.trading_state == "ACTIVE" and not desk.engine.flattening


def test_an_entry_in_doubt_found_canceled_at_the_broker_is_journaled_canceled(make_desk):
    desk, tape, _ = resting_entry_in_doubt(make_desk)
    (at_broker,) = desk.paper.orders()
    desk.paper.cancel(at_broker.broker_order_id)       # by hand, before the engine knows of it
    desk.engine.set_trading_state("HALTED", HALT)      # the halt looks it up at once
    (entry,) = desk.engine.book.orders.values()
    assert entry.status == sm.CANCELED, entry.status
    assert [type(m) for m in desk.events[-2:]] == [OrderAccepted, OrderCanceled]
    assert not desk.engine.desk.active                 # its bracket ended with it
    desk.engine.flatten_all(FLATTEN)
    desk.engine.set_trading_state("ACTIVE", RESUME)
    assert desk.engine.trading_state == "ACTIVE"
    until_the_retry(desk, tape)
    assert len(of_type(desk.events, OrderCanceled)) == 1
