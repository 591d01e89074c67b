"""Session edges: an entry at the exact cut-off second, and a LIMIT entry still working at the
cut-off (the README: "no entry ... after the cut-off")."""


from common.messages import OrderDenied, OrderFilled, OrderSubmitting
from tests.orders.stubs import Tape, intent, ist_ns, of_type
from tests.orders.test_day_edges import session_limits


def test_entry_when_raised_at_the_exact_cut_off_second_then_it_is_denied_and_a_nanosecond_before_approved(  # noqa: E501 - the name is the test's sentence
    make_desk,
):
    desk, tape = make_desk(limits=session_limits()), Tape()
    before = tape.add(0, 100.0, at_ns=ist_ns(15, 0) - 1)
    at = tape.add(1, 200.0, at_ns=ist_ns(15, 0))
    desk.run(tape, [intent(before, qty=1), intent(at, instrument=1, qty=1)])
    assert [m.instrument for m in of_type(desk.events, OrderSubmitting)] == [0]
    (denied,) = of_type(desk.events, OrderDenied)
    assert denied.instrument == 1 and denied.reason.startswith("AFTER_ENTRY_CUTOFF")


def test_limit_entry_when_still_working_at_the_cut_off_then_it_opens_no_position_after_it(
    make_desk,
):
    desk, tape = make_desk(limits=session_limits(leg_prices="signal")), Tape()
    seq = tape.add(0, 100.0, at_ns=ist_ns(14, 59, 59))
    desk.run(tape, [intent(seq, qty=5, order_type="LIMIT", limit_price=99.0, stop_loss=98.0,
                           target=101.0)])
    start = tape.add(0, 99.5, at_ns=ist_ns(15, 0, 1))
    tape.add(0, 99.0, at_ns=ist_ns(15, 5))              # the market comes down to the limit
    tape.add(0, 99.0, at_ns=ist_ns(15, 5, 1))
    desk.run(tape, start_seq=start)
    late = [f for f in of_type(desk.events, OrderFilled)
            if f.role == "ENTRY" and f.ts_event_ns >= ist_ns(15, 0)]
    assert late == [], [(f.qty, f.price) for f in late]
