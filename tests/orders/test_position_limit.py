"""max_position_qty holds for every position the working orders can produce, not only for the net
position when an entry is judged: brackets on both sides of one symbol close independently."""

from common.messages import OrderDenied
from orders.risk import CODES
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, of_type


def test_opposite_brackets_cannot_carry_a_position_past_its_limit(make_desk):
    limits = limits_of(enforce_session=False, max_position_qty=2, max_order_qty=2,
                       leg_prices="signal")
    desk, tape = make_desk(limits=limits), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=2, side=1, stop_loss=98.0, target=103.0, strategy="a")])
    desk.run(tape, start_seq=tape.add(0, 100.0))          # A long 2, its legs sell 2
    seq = tape.add(0, 100.0)
    desk.run(tape, [intent(seq, qty=1, side=-1, stop_loss=101.0, target=97.0, strategy="b")],
             start_seq=seq)
    desk.run(tape, start_seq=tape.add(0, 100.0))          # B short 1: net 1, B's legs buy 1
    assert desk.engine.positions()[0][0] == 1
    seq = tape.add(0, 100.0)
    # C long 1 would make net 2 now; B's stop (buy 1) can then make it 3.
    desk.run(tape, [intent(seq, qty=1, side=1, stop_loss=98.0, target=103.0, strategy="c")],
             start_seq=seq)
    (denied,) = of_type(desk.events, OrderDenied)
    assert denied.reason_code == CODES["POSITION_LIMIT"]
    start = tape.add(0, 100.0)
    tape.prices(0, [101.0, 101.5, 101.5])                 # B's stop fills
    desk.run(tape, start_seq=start)
    assert abs(desk.engine.positions()[0][0]) <= 2


def test_an_entry_the_limit_allows_on_every_path_is_approved(make_desk):
    limits = limits_of(enforce_session=False, max_position_qty=2, max_order_qty=2,
                       leg_prices="signal")
    desk, tape = make_desk(limits=limits), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=1, side=1, stop_loss=98.0, target=103.0, strategy="a")])
    desk.run(tape, start_seq=tape.add(0, 100.0))          # long 1, legs sell 1
    seq = tape.add(0, 100.0)
    desk.run(tape, [intent(seq, qty=1, side=1, stop_loss=98.0, target=103.0, strategy="b")],
             start_seq=seq)                                # worst long 2: allowed
    assert of_type(desk.events, OrderDenied) == []


def test_unfilled_entries_count_towards_the_limit_on_their_side(make_desk):
    limits = limits_of(enforce_session=False, max_position_qty=3, max_order_qty=3,
                       leg_prices="signal")
    desk, tape = make_desk(limits=limits), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=2, side=1, order_type="LIMIT", limit_price=99.0,
                           stop_loss=98.0, target=103.0, strategy="a"),
                    intent(1, qty=2, side=1, order_type="LIMIT", limit_price=99.0,
                           stop_loss=98.0, target=103.0, strategy="b")])
    (denied,) = of_type(desk.events, OrderDenied)
    assert denied.reason_code == CODES["POSITION_LIMIT"]
