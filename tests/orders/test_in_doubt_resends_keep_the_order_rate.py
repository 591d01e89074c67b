"""Orders found absent by a lookup are sent again within the order-rate throttle, as any placement.

Found: every order in doubt due in one settle is looked up with one read of the book, and each one
absent was sent again at once — past the throttle, which only new placements consulted. Two blips a
second apart (the second one's lookup read failing too, so both seconds' orders came due together)
put 16 placements on NSE in one second: twice the account's configured exchange rate
(config.risk.venue_rate_per_sec, 8 = the exchange's threshold of 10 less the 20 % margin), above the
threshold an algo not registered with the exchange must stay below. (Before the lookups shared a
read, each cost a request of the API budget, which happened to cap them near 10 a second.) Now a
re-send that finds no room waits for it and is looked up again then.
"""

from common.errors import BrokerRetryable
from common.messages import OrderSubmitting
from tests.orders.risk_support import limits_of
from tests.orders.stubs import FlakyBroker, Tape, intent, of_type
from tests.orders.test_in_doubt_entry_at_a_halt import BlindLookups

S = 1_000_000_000
NEVER_RECEIVED = ("before", BrokerRetryable("HTTP 503"))


def entries(seq: int, prefix: str) -> list:
    return [intent(seq, qty=1, strategy=f"{prefix}{i}") for i in range(8)]


def test_orders_found_absent_together_are_sent_again_no_faster_than_the_exchange_rate(make_desk):
    limits = limits_of(enforce_session=False, leg_prices="signal", max_position_qty=100)
    desk = make_desk(limits=limits, wrap=lambda paper: FlakyBroker(
        paper, {n: NEVER_RECEIVED for n in range(1, 17)}))
    lookups = BlindLookups(desk.broker)
    desk.engine.gateway.broker = lookups
    per_sec = desk.engine.throttle.venue_per_sec
    assert per_sec == 8
    tape = Tape()
    start = tape.add(0, 100.0)
    desk.run(tape, entries(start, "a"))            # eight entries, none received
    lookups.blind = True                                 # a second later their lookup fails ...
    seq = tape.add(0, 100.0, at_ns=tape.rows[0][1] + S)
    desk.run(tape, entries(seq, "b"), start_seq=seq)   # ... and eight more are lost
    lookups.blind = False
    start = tape.seq + 1
    tape.prices(0, [100.0] * 40)                         # 4 s: both seconds' orders come due
    desk.run(tape, start_seq=start)
    sent = [m.ts_event_ns for m in of_type(desk.events, OrderSubmitting)]
    busiest = max(sum(1 for u in sent if t - S < u <= t) for t in sent)
    assert busiest <= per_sec, f"{busiest} placements on NSE within one second"
    at_broker = [o.client_order_id for o in desk.paper.orders()]
    assert len(at_broker) == len(set(at_broker)) == 16     # each sent again, once
    assert not desk.engine.book.unresolved()
