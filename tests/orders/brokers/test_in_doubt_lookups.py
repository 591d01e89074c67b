"""Orders in doubt after a broker blip are looked up with one read of the order book a settle, not
one read each: the API budget (Kite: 10 requests a second for everything but placements) stays with
the fill polls.

Found by counting: a blip that left twelve placements in doubt spent a whole second of budget on
twelve reads of the same order book when their retries came due (eight fitted, four more a second
later), the lookups past the budget were refused by the client-side throttle and asked again on
every later settle (80 refusals), and the poll found no room: a fill the venue made meanwhile was
learned 800 ms after it, not within the poll's 500. A restart asking about sixteen working orders
got one answer: the budget was gone after nine reads.

Against the local Kite and Upstox servers through the official SDKs (both adapters share the lookup:
orders/brokers/live.py). Twelve placements of the blip fail with a 5xx (never recorded: sent again
once the lookup says so), four are recorded and their answers lost (a timeout: the poll reports
them, they are never sent again). The harness's wall clock is fake, so which request fits the
budget is a fact of the test.
"""

import pytest

from common.messages import OrderAccepted, OrderFilled, OrderInDoubt, OrderSubmitting
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from orders.recovery import IN_DOUBT_RETRY_NS
from tests.orders.brokers.kite.kite_support import make_kite  # noqa: F401 - fixture
from tests.orders.brokers.upstox.upstox_support import ROWS, make_upstox  # noqa: F401 - fixture
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, of_type

# venue -> (its fixture, its placement route, its order-book path, its budget settings)
VENUES = {
    "kite": ("make_kite", "POST /orders/regular", "/orders",
             {"api_per_sec": 10, "orders_per_sec": 20}),
    "upstox": ("make_upstox", "POST /v3/order/place", "/v2/order/retrieve-all",
               {"api_limits": ((10, 1.0),), "order_limits": ((20, 1.0),)}),
}
NEVER_RECEIVED, RECORDED = 12, 4   # placements of the blip: 5xx, and recorded but timed out
IN_DOUBT = NEVER_RECEIVED + RECORDED
POLL_MS = 500                   # the schema's default poll interval
STEP_S = 0.1                    # one step: 100 ms of market time and of (fake) wall time


class Account:
    """A venue, an adapter on it and an engine on the adapter, stepped together."""

    def __init__(self, request, venue: str):
        fixture, self.place_route, self.book_path, budget = VENUES[venue]
        self.h = request.getfixturevalue(fixture)(timeout_s=0.25, poll_interval_ms=POLL_MS,
                                                  **budget)
        self.rows = self.h.table.rows if venue == "kite" else ROWS
        self.events: list = []
        limits = limits_of(enforce_session=False, rate_per_sec=20, ops_threshold=25)
        self.engine = OrderEngine(self.rows, limits, FeeSchedule("zerodha"), self.h.broker,
                                  self.events.append)
        self.tape = Tape(step_ms=STEP_S * 1000)
        self.reads: list[int] = []          # order-book reads at each step
        self.journaled: list[int] = []      # len(events) after each step

    def book_reads(self) -> int:
        return self.h.server.count("GET", self.book_path)

    def step(self, price: float = 100.0, intents=()) -> None:
        """One step of the market: the venue trades at `price`, the engine reads the tick and then
        polls (as the orders stage does between ticks)."""
        before = self.book_reads()
        self.h.tick(price)
        self.tape.add(0, price)
        self.engine.advance(self.tape.array(), list(intents))
        self.engine.poll_broker()
        self.h.clock.advance(STEP_S)
        self.reads.append(self.book_reads() - before)
        self.journaled.append(len(self.events))

    def step_of(self, event) -> int:
        """The step at which `event` was journaled."""
        at = next(i for i, m in enumerate(self.events) if m is event)
        return next(k for k, n in enumerate(self.journaled) if n > at)

    def at_venue(self) -> list[str]:
        """The client ids of every order the venue holds, once per order it recorded."""
        return [o.client_order_id for o in self.h.broker.orders()]


def resting(n: int, seq: int):
    """A LIMIT buy far below the market: accepted and left working, never filled here."""
    return intent(seq, strategy=f"r{n}", order_type="LIMIT", limit_price=96.0, qty=1)


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_orders_in_doubt_after_a_blip_share_one_book_read_and_the_fill_poll_keeps_its_pace(
        request, venue):
    a = Account(request, venue)
    a.step(intents=[intent(1, strategy="watch", order_type="LIMIT", limit_price=99.0, qty=1)])
    a.step()
    (watch,) = of_type(a.events, OrderAccepted)

    # The blip: every placement of one tick meets it.
    a.h.server.fail_next("500", NEVER_RECEIVED, route=a.place_route)
    a.h.server.fail_next("accept_timeout", RECORDED, delay_s=0.5, route=a.place_route)
    a.step(intents=[resting(n, a.tape.seq + 1) for n in range(IN_DOUBT)])
    doubts = {m.client_order_id for m in of_type(a.events, OrderInDoubt)}
    assert len(doubts) == IN_DOUBT
    blip_step = len(a.reads) - 1

    # The watch order fills at the venue just before the lookups come due; the polls go on.
    due_steps = int(IN_DOUBT_RETRY_NS / 1e9 / STEP_S)
    for _ in range(due_steps - 1):
        a.step()
    filled_step = len(a.reads)
    a.step(price=98.5)
    for _ in range(3 * due_steps):
        a.step()

    # One order-book read for all the lookups, besides the polls' (one each POLL_MS). Before: 8
    # reads in the settle they came due (the budget's room), 4 more a second later, and 80
    # lookups refused by the throttle in between (a refused lookup was asked on every settle).
    after = a.reads[blip_step + 1:]
    polls = len(after) * STEP_S * 1000 / POLL_MS
    assert sum(after) <= polls + 1, after
    assert max(after) <= 2, after                 # a poll and the lookups, no more
    # The fill is learned within the poll's usual time (before: 800 ms after it).
    fill = next(m for m in of_type(a.events, OrderFilled)
                if m.client_order_id == watch.client_order_id)
    late_ms = (a.step_of(fill) - filled_step) * STEP_S * 1000
    assert late_ms <= POLL_MS, late_ms
    # Each at the broker exactly once: the 5xx ones sent again, the recorded ones never.
    at_venue = a.at_venue()
    assert sorted(at_venue) == sorted(doubts | {watch.client_order_id})
    submits = [m.client_order_id for m in of_type(a.events, OrderSubmitting)]
    assert len(submits) == 1 + IN_DOUBT + NEVER_RECEIVED
    assert a.engine.book.unresolved() == []


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_a_restart_asks_the_broker_about_all_its_orders_with_one_read_a_question(request, venue):
    # The process dies during a blip: eight placements journaled "about to send" with no answer
    # (four never recorded, four recorded), eight more working. The restart asks about the eight
    # (one read), reads the trade book (a crash between a fill and its event), and asks which of
    # its sixteen working orders the broker has since canceled (one read): not one read an order.
    a = Account(request, venue)
    a.step(intents=[resting(n, 1) for n in range(8)])
    a.h.server.fail_next("500", 4, route=a.place_route)
    a.h.server.fail_next("accept_timeout", 4, delay_s=0.5, route=a.place_route)
    a.step(intents=[resting(n, a.tape.seq + 1) for n in range(8, 16)])
    doubts = {m.client_order_id for m in of_type(a.events, OrderInDoubt)}
    assert len(doubts) == 8
    journal = [m for m in a.events if not isinstance(m, OrderInDoubt)]   # died before those

    before = a.book_reads()
    events = list(journal)
    engine = OrderEngine(a.rows, a.engine.limits, FeeSchedule("zerodha"),
                         a.h.reopen(), events.append)
    engine.restore(events)
    engine.resolve_in_doubt()
    # Before: 9 reads (eight lookups, the trade book's owners), then 15 of the 16 questions about
    # the working orders refused by the throttle (Kite's 10 a second), their answers never read.
    assert a.book_reads() - before <= 3, a.book_reads() - before
    assert engine.stats["broker_errors"] == 0
    # The four never recorded are absent, but their attempts are moments old on the restored
    # clock (they may still be on their way): they wait for their retry, in doubt.
    waiting = engine.book.unresolved()
    assert len(waiting) == 4 and all(o.status == "IN_DOUBT" for o in waiting)
    assert len(a.at_venue()) == 12
    engine.next_tick_is(a.tape.seq + 1)
    engine.advance_clock(engine.clock_ns + IN_DOUBT_RETRY_NS)
    engine.poll_broker()                      # their retry: one read, and each sent again once
    assert engine.book.unresolved() == []
    at_venue = a.at_venue()
    assert sorted(at_venue) == sorted(set(at_venue)) and len(at_venue) == 16
