"""A restarted engine trusts a lookup's "absent" only once the attempt is a retry interval old, as
the running engine does: the request may still be on its way to the broker.

Found: after a restart, the exits in doubt (a stop, a target, a square-off's close) were looked up
at once and, absent, sent again at once — whatever the age of the attempt. On a replay the restored
market clock is the dead process's, moments after that attempt; a stop still in flight then reached
the broker beside the one sent again: two stops for one position, which can close it twice and
leave it short. Now a younger attempt waits for its retry (journaled in doubt if the dead process
left it "about to send"), on the engine's clock — the replay's market clock, or on a live feed the
wall clock the stage moves it to before recovery (orders/stage.py `finish_recovery`), where an
attempt made before the crash is usually old enough to be settled at once.
"""

import pytest

from common.errors import BrokerRetryable
from common.messages import OrderInDoubt, OrderSubmitting
from orders import statemachine as sm
from orders.recovery import IN_DOUBT_RETRY_NS
from tests.orders.stubs import Tape, intent, of_type
from tests.orders.test_engine_determinism import Crash
from tests.orders.test_in_doubt_entry_at_a_halt import until_the_retry


class InFlight:
    """A broker across a network: the `n`-th placement leaves, and reaches the broker's book only
    when the test says (`arrive`); the caller meanwhile sees `failure` (a timeout, or the process
    dying with the request on the wire). Shared by the processes of a test, as the network is."""

    book_is_ours = False            # not the paper broker's in-process book: requests travel

    def __init__(self, n: int, failure: Exception):
        self.n, self.failure = n, failure
        self.inner = None
        self.places = 0
        self.on_the_wire = None

    def wrap(self, paper):
        self.inner = paper
        self.capabilities = paper.capabilities
        return self

    def place(self, req):
        self.places += 1
        if self.places == self.n:
            self.on_the_wire = req
            raise self.failure
        return self.inner.place(req)

    def arrive(self) -> None:
        self.inner.place(self.on_the_wire)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def stop_in_flight(make_desk, failure: Exception):
    """A desk whose bracket's entry filled and whose stop (the second placement) left and has not
    reached the broker; the caller's `failure` is what the engine saw. Returns (desk, tape, net)."""
    net = InFlight(2, failure)
    desk = make_desk(wrap=net.wrap)
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    return desk, tape, net


def stops(desk) -> list:
    return [m for m in of_type(desk.events, OrderSubmitting) if m.role == "STOP"]


@pytest.mark.parametrize("failure", [BrokerRetryable("read timeout"), Crash()],
                         ids=["in doubt at the crash", "about to send at the crash"])
def test_a_restart_does_not_send_again_a_stop_still_in_flight(make_desk, failure):
    desk, tape, net = stop_in_flight(make_desk, failure)
    try:
        desk.run(tape, start_seq=tape.add(0, 100.0))     # the entry fills: its stop leaves
    except Crash:
        pass
    (stop,) = stops(desk)
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    # Absent from the book, but the attempt is moments old on the restored clock: not sent again.
    assert len(stops(desk)) == 1, "the restart sent the stop again while it was still in flight"
    order = desk.engine.book.orders[stop.client_order_id]
    assert order.status == sm.IN_DOUBT
    if isinstance(failure, Crash):
        assert "under a retry interval old" in of_type(desk.events, OrderInDoubt)[-1].reason
    net.arrive()                                         # ... and it reaches the broker
    until_the_retry(desk, tape)                          # the retry finds it working
    assert desk.paper._book.duplicate_client_ids == 0
    (at_broker,) = [o for o in desk.paper.orders() if o.client_order_id == stop.client_order_id]
    assert at_broker.status == sm.ACCEPTED and at_broker.qty == 5
    assert order.status == sm.ACCEPTED and len(stops(desk)) == 1


def test_a_restart_sends_again_at_once_a_stop_absent_long_after_its_attempt(make_desk):
    # A live feed: the stage moves the restarted engine's clock to the wall's, seconds after the
    # attempt; the stop's absence is then trusted at once, and the position is protected again.
    desk, tape, net = stop_in_flight(make_desk, BrokerRetryable("read timeout"))
    desk.run(tape, start_seq=tape.add(0, 100.0))
    (stop,) = stops(desk)
    desk.restart(list(desk.events), market=desk.engine.market_snapshot(), resolve=False)
    desk.engine.advance_clock(stop.ts_event_ns + 3 * IN_DOUBT_RETRY_NS)
    desk.engine.resolve_in_doubt()
    assert len(stops(desk)) == 2
    (at_broker,) = [o for o in desk.paper.orders() if o.client_order_id == stop.client_order_id]
    assert at_broker.status == sm.ACCEPTED and at_broker.qty == 5
