"""A halt ends the entries of every bracket open at it, in doubt or not: after a resume none of them
reaches the broker; exits keep protecting what filled, in doubt or not.

Found: an entry whose placement was in doubt (its answer lost, or refused by the adapter's own
throttle) when the operator halted, and the operator resumed before its retry: the retry found
trading ACTIVE and sent it, with its bracket managed — an entry the halt should have stopped, as it
cancels a working one. What a trader expects of a halt, and what these tests hold the engine to:

- an entry known never received is rejected NOT_SENT, with a reason naming the halt, at the halt
  when nothing of it ever left (throttled), else at its retry, whatever trading is by then;
- one the broker turns out to have is canceled like any working entry: at the halt when the
  lookup the halt makes finds it, or whenever a later lookup does, a resume notwithstanding;
- a slice not yet placed (the process died between two slices) is never placed;
- exits and stops in doubt are still looked up and sent: they protect positions;
- all of it across a restart of the orders process between the halt and the resume, or between the
  lost placement and the halt.
"""

import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import THROTTLED, BrokerRetryable
from common.messages import OrderCanceled, OrderRejected, OrderSubmitting
from orders import statemachine as sm
from orders.recovery import NOT_SENT
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Desk, FlakyBroker, Tape, instruments, intent, of_type
from tests.orders.test_engine_determinism import Crash
from tests.orders.test_engine_properties import PROPERTY

S = 1_000_000_000
HALT, RESUME = "operator: ctl halt", "operator: ctl resume"
LOST = {
    "throttled": ("before", BrokerRetryable("throttled (client-side limit)", code=THROTTLED)),
    "never received": ("before", BrokerRetryable("read timeout")),
    "received": ("after", BrokerRetryable("read timeout")),
}


def lost(kind: str, *placements: int) -> dict:
    """FlakyBroker failures: these placements (1-based) lost `kind`; one dict, shared by the
    wrappers of every process, so each failure happens once."""
    return {n: LOST[kind] for n in placements}


def halt_and_resume(desk) -> None:
    desk.engine.set_trading_state("HALTED", HALT)
    desk.engine.set_trading_state("ACTIVE", RESUME)


def until_the_retry(desk, tape, price: float = 100.0) -> None:
    """Ticks past the in-doubt retry (one market second), the price where it is."""
    start = tape.add(0, price, at_ns=tape.next_ns + 2 * S)
    tape.prices(0, [price] * 3)
    desk.run(tape, start_seq=start)


def entry_of(desk):
    return next(m for m in of_type(desk.events, OrderSubmitting) if m.role == "ENTRY")


def test_an_entry_the_throttle_held_back_at_a_halt_is_not_sent_after_the_resume(make_desk):
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("throttled", 1)))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    entry = entry_of(desk)
    halt_and_resume(desk)
    # Settled by the halt itself: nothing of it ever left.
    (rejected,) = of_type(desk.events, OrderRejected)
    assert (rejected.client_order_id, rejected.code) == (entry.client_order_id, NOT_SENT)
    assert HALT in rejected.reason
    until_the_retry(desk, tape, 99.0)
    assert desk.paper.orders() == [], "an entry the halt stopped went out after the resume"
    assert not desk.engine.exposure.pos_qty.any()
    assert len(of_type(desk.events, OrderSubmitting)) == 1
    assert not desk.engine.desk.active                     # the bracket ended with its entry


def test_an_entry_never_received_is_rejected_at_its_retry_after_the_resume(make_desk):
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("never received", 1)))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    entry = entry_of(desk)
    halt_and_resume(desk)
    # Looked up at the halt and absent, but only a second after the attempt is an absence
    # trusted (the request may still be on its way): it waits for its retry.
    assert of_type(desk.events, OrderRejected) == []
    until_the_retry(desk, tape)
    (rejected,) = of_type(desk.events, OrderRejected)
    assert (rejected.client_order_id, rejected.code) == (entry.client_order_id, NOT_SENT)
    assert HALT in rejected.reason
    assert desk.paper.orders() == []
    assert len(of_type(desk.events, OrderSubmitting)) == 1


def test_an_entry_the_broker_had_is_canceled_by_the_halt_that_looked_it_up(make_desk):
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("received", 1)))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, order_type="LIMIT", limit_price=99.0, stop_loss=97.0,
                           target=103.0)])
    entry = entry_of(desk)
    desk.engine.set_trading_state("HALTED", HALT)
    (canceled,) = of_type(desk.events, OrderCanceled)
    assert canceled.client_order_id == entry.client_order_id
    desk.engine.set_trading_state("ACTIVE", RESUME)
    until_the_retry(desk, tape, 98.0)                     # through its limit: it would fill
    (at_broker,) = desk.paper.orders()
    assert at_broker.status == sm.CANCELED and at_broker.filled_qty == 0
    assert not desk.engine.exposure.pos_qty.any()
    assert len(of_type(desk.events, OrderSubmitting)) == 1


class BlindLookups:
    """A broker whose book cannot be read while `blind` (every lookup a retryable error)."""

    def __init__(self, inner):
        self.inner, self.blind = inner, False
        self.capabilities = inner.capabilities

    def find_by_client_ids(self, client_order_ids):
        if self.blind:
            raise BrokerRetryable("orders: read timeout")
        return self.inner.find_by_client_ids(client_order_ids)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_an_entry_found_working_only_after_the_resume_is_canceled_then(make_desk):
    # The halt's lookup cannot read the broker's book; the resume comes; the retry's lookup finds
    # the entry working at the broker: canceled, as the halt would have, a resume notwithstanding.
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("received", 1)))
    blind = BlindLookups(desk.broker)
    desk.engine.gateway.broker = blind
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, order_type="LIMIT", limit_price=99.0, stop_loss=97.0,
                           target=103.0)])
    blind.blind = True
    halt_and_resume(desk)
    blind.blind = False
    assert of_type(desk.events, OrderCanceled) == []
    until_the_retry(desk, tape)
    desk.run(tape, start_seq=tape.prices(0, [98.0, 98.0]))    # through its limit: it would fill
    (at_broker,) = desk.paper.orders()
    assert at_broker.status == sm.CANCELED and at_broker.filled_qty == 0
    assert of_type(desk.events, OrderCanceled)[0].reason == "trading halted"


def restarted_between_two_slices(make_desk):
    """A desk restarted with the first of two LIMIT entry slices (freeze quantity 5) placed and the
    second never placed: the orders process died between them. Returns (desk, tape)."""
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


def test_a_slice_not_yet_placed_at_a_halt_is_never_placed(make_desk):
    # The restart finds the second slice never placed, and is halted before it acts. The halt
    # cancels the first slice; after the resume the second must not open half a bracket.
    desk, tape = restarted_between_two_slices(make_desk)
    halt_and_resume(desk)
    until_the_retry(desk, tape, 98.0)
    (first,) = desk.paper.orders()
    assert first.status == sm.CANCELED and first.filled_qty == 0
    assert not desk.engine.exposure.pos_qty.any()
    assert not desk.engine.desk.active                     # the bracket ended with the halt


def test_a_stop_in_doubt_at_a_halt_is_still_looked_up_and_sent(make_desk):
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("never received", 2)))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    desk.run(tape, start_seq=tape.add(0, 100.0))          # the entry fills: its legs go
    halt_and_resume(desk)
    until_the_retry(desk, tape)
    stops = [o for o in desk.paper.orders() if o.order_type == "SL-M"]
    assert len(stops) == 1 and stops[0].status == sm.ACCEPTED and stops[0].qty == 5


def test_a_restart_between_the_halt_and_the_resume_does_not_let_the_entry_go(make_desk):
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("never received", 1)))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    desk.engine.set_trading_state("HALTED", HALT)
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    desk.engine.set_trading_state("ACTIVE", RESUME)
    until_the_retry(desk, tape)
    assert desk.paper.orders() == []
    assert of_type(desk.events, OrderRejected)[-1].code == NOT_SENT


def test_a_restart_between_the_lost_placement_and_the_halt_does_not_let_the_entry_go(make_desk):
    failures = lost("throttled", 1)
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, failures))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    halt_and_resume(desk)
    until_the_retry(desk, tape)
    assert desk.paper.orders() == []
    assert of_type(desk.events, OrderRejected)[-1].code == NOT_SENT


# ------------------------------------------------------------------------ the property

class Witness:
    """Between the flaky wrapper and the paper broker: every placement that reaches the broker is
    checked against the halts the operator issued before it."""

    def __init__(self, inner, run):
        self.inner, self.run = inner, run
        self.capabilities = inner.capabilities

    def place(self, req):
        order = self.run.desk.engine.book.orders[req.client_order_id]
        if order.role == "ENTRY":
            approved = int(order.intent_id.rsplit(":", 1)[1])
            assert not any(approved <= h for h in self.run.halted_after), (
                f"entry {req.client_order_id} of tick {approved} sent after a halt at "
                f"{self.run.halted_after}")
        return self.inner.place(req)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Run:
    def __init__(self, directory, failures):
        self.halted_after: list[int] = []          # the tick after which each halt came
        self.desk = Desk(directory, limits=limits_of(enforce_session=False, leg_prices="signal"),
                         wrap=lambda paper: FlakyBroker(Witness(paper, self), failures))


STEPS = st.lists(st.sampled_from(["tick", "tick", "tick", "halt", "resume", "restart"]),
                 min_size=1, max_size=14)


@PROPERTY
@given(st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=4),
       st.dictionaries(st.integers(1, 8), st.sampled_from(sorted(LOST)), max_size=4), STEPS)
def test_no_entry_of_a_bracket_open_at_a_halt_reaches_the_broker_after_it(entries, failed, steps):
    with tempfile.TemporaryDirectory() as d:
        run = Run(d, {n: LOST[kind] for n, kind in failed.items()})
        desk, tape = run.desk, Tape(step_ms=300)
        try:
            tape.add(0, 100.0)
            # Brackets on the first tick: MARKET entries that fill on the next, or LIMIT ones
            # resting until the price comes down to them.
            desk.run(tape, [intent(1, qty=qty, strategy=f"s{k}", stop_loss=97.0, target=104.0,
                                   order_type="LIMIT" if limit else "MARKET",
                                   limit_price=99.0 if limit else 0.0)
                            for k, (qty, limit) in enumerate(entries)])
            for step in steps + ["tick"] * 30:     # then long enough for every retry
                if step == "tick":
                    desk.run(tape, start_seq=tape.add(0, 99.0 if tape.seq % 2 else 100.0))
                elif step == "halt":
                    run.halted_after.append(tape.seq)
                    desk.engine.set_trading_state("HALTED", HALT)
                elif step == "resume":
                    desk.engine.set_trading_state("ACTIVE", RESUME)
                else:
                    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
            eng = desk.engine
            at_broker = desk.paper.orders()
            assert desk.paper._book.duplicate_client_ids == 0
            assert len({o.client_order_id for o in at_broker}) == len(at_broker)
            assert not eng.book.unresolved()
            if run.halted_after:                   # no entry of before the halt left working
                assert not [o for o in at_broker if o.status in sm.WORKING
                            and eng.book.orders[o.client_order_id].role == "ENTRY"]
            for b in eng.desk.active.values():     # what filled is protected by its stop
                filled = sum(eng.book.orders[c].filled_qty for c in b.entries)
                exited = sum(eng.book.orders[c].filled_qty for c in b.stops + b.targets)
                if filled > exited:
                    assert any(o.status in sm.WORKING and o.qty - o.filled_qty >= filled - exited
                               for o in at_broker if o.client_order_id in b.stops), b.intent_id
        finally:
            desk.close()
