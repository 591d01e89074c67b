"""An order that stays in doubt for good — its row in the broker's book cannot be read, so a lookup
cannot tell it from absent and it is deliberately kept in doubt — must not leave the trader stuck
after a flatten without knowing why, or what to do.

Found: `ctl resume` after a flatten is refused while an order of ours is working or in doubt (an
entry the broker may have would fill with its bracket closed). Such an order is in doubt all day,
so the resume was refused all day, and the refusal said only "the flatten is not done on 1
instrument(s)". Now the refusal names each order and position left and what to do about each, and
`ctl adopt` (the operator has checked the order at the broker) releases an entry in doubt for good:
it is journaled canceled, looked up no more, and the flatten can be done. An exit in doubt for good
is not released — whether it filled decides whether its position is open, and a close sent on a
guess could close it twice — and the refusal says so.
"""

from common.messages import OrderCanceled
from orders import statemachine as sm
from orders.reconciler import Reconciler
from orders.resume import flatten_left, refusal
from tests.orders.stubs import FlakyBroker, Tape, intent, of_type
from tests.orders.test_in_doubt_entry_at_a_flatten import FLATTEN
from tests.orders.test_in_doubt_entry_at_a_halt import RESUME, lost, until_the_retry
from tests.orders.test_reconcile import Clock


class Unreadable:
    """A broker whose row for `coids` cannot be read: its lookups leave them out and its order book
    skips them, as the live adapters do with a row that does not validate
    (orders/brokers/live.py `find_by_client_ids`)."""

    def __init__(self, inner):
        self.inner, self.coids = inner, set()
        self.capabilities = inner.capabilities

    def find_by_client_ids(self, client_order_ids):
        found = self.inner.find_by_client_ids(client_order_ids)
        return {c: o for c, o in found.items() if c not in self.coids}

    def orders(self):
        return [o for o in self.inner.orders() if o.client_order_id not in self.coids]

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_resume_names_the_entry_in_doubt_for_good_and_ctl_adopt_releases_it(make_desk, tmp_path):
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("received", 1)))
    broker = Unreadable(desk.broker)
    desk.engine.gateway.broker = broker
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, order_type="LIMIT", limit_price=99.0, stop_loss=97.0,
                           target=103.0)])
    (entry,) = desk.engine.book.unresolved()
    coid = entry.client_order_id
    broker.coids.add(coid)                          # its row at the broker cannot be read
    eng = desk.engine
    eng.set_trading_state("HALTED", FLATTEN)
    eng.flatten_all(FLATTEN)
    until_the_retry(desk, tape)                     # looked up again: still unreadable
    eng.set_trading_state("ACTIVE", RESUME)
    assert eng.trading_state == "HALTED"
    reason = eng.state_reason
    assert reason.startswith("resume refused") and coid in reason
    assert "the broker's book cannot show it" in reason and "ctl adopt" in reason

    # The trader finds it at the broker, working, and cancels it there; then adopts.
    (at_broker,) = desk.paper.orders()
    desk.paper.cancel(at_broker.broker_order_id)
    symbols = [s.decode() for s in desk.rows["symbol"]]
    reconciler = Reconciler(eng, broker, symbols, str(tmp_path), interval_s=0.0, on_start=False,
                            clock=Clock())
    reconciler.adopt()
    assert reconciler.last["released"] == [coid]
    assert entry.status == sm.CANCELED
    assert "released by the operator" in of_type(desk.events, OrderCanceled)[-1].reason
    eng.set_trading_state("ACTIVE", RESUME)
    assert eng.trading_state == "ACTIVE" and not eng.flattening
    until_the_retry(desk, tape, 98.0)               # nothing more is looked up or sent
    assert not eng.book.unresolved() and len(desk.paper.orders()) == 1
    assert not eng.exposure.pos_qty.any()


def test_an_exit_in_doubt_for_good_is_not_released_and_the_refusal_says_so(make_desk, tmp_path):
    # The flatten meets a stop in doubt for good: the position cannot be closed on a guess.
    desk = make_desk(wrap=lambda paper: FlakyBroker(paper, lost("received", 2)))
    broker = Unreadable(desk.broker)
    desk.engine.gateway.broker = broker
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=97.0)])
    desk.run(tape, start_seq=tape.add(0, 100.0))    # the entry fills; its stop's answer is lost
    eng = desk.engine
    (stop,) = eng.book.unresolved()
    broker.coids.add(stop.client_order_id)
    eng.set_trading_state("HALTED", FLATTEN)
    eng.flatten_all(FLATTEN)
    until_the_retry(desk, tape)
    eng.set_trading_state("ACTIVE", RESUME)
    reason = eng.state_reason
    assert reason.startswith("resume refused") and stop.client_order_id in reason
    assert "SYM0 position +5 open" in reason and "the flatten does not close SYM0" in reason
    assert "`ctl adopt` does not release an exit" in reason
    symbols = [s.decode() for s in desk.rows["symbol"]]
    Reconciler(eng, broker, symbols, str(tmp_path), interval_s=0.0, on_start=False,
               clock=Clock()).adopt()
    assert stop.status == sm.IN_DOUBT                # not released: its fill is unknown
    assert [o for o in eng.book.orders.values() if o.role == "FLATTEN"] == []


def test_a_refusal_names_at_most_five_things_and_counts_the_rest():
    positions = {k: 1 for k in range(7)}
    left = flatten_left(positions, [], set(), [f"S{k}" for k in range(7)])
    assert len(left) == 7
    text = refusal(left, RESUME)
    assert "S4 position +1 open" in text and "S5" not in text and "and 2 more" in text
