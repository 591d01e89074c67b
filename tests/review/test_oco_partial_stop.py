"""OCO with a triggered stop that fills in parts (a thin book): found by the orders property test
run with fresh randomness (OTRADE_PROPERTY_RANDOM=1, 1,500 examples), reduced here by hand.

A triggered SL-M stop of 3 fills 1 a tick; the target is shrunk to what the stop has not filled yet
(1), but the stop still works for that same 1. The price turns up through the target: the stop's
last 1 and the target's 1 fill on one tick — 4 out for 3 in, a naked short of 1.
"""


from common.messages import OrderFilled
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, of_type


def test_oco_when_a_triggered_stop_fills_in_parts_and_the_price_turns_through_the_target_then_exits_never_exceed_the_entry(  # noqa: E501 - the name is the test's sentence
    make_desk,
):
    desk, tape = make_desk(limits=limits_of(enforce_session=False, leg_prices="signal"),
                           max_fill_qty_per_tick=1), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=3, stop_loss=99.5, target=101.0)])
    start = tape.seq + 1
    # the entry fills 1 a tick: long 3, legs for 3
    tape.prices(0, [100.0, 100.0, 100.0])
    tape.prices(0, [99.0, 99.0])                        # the stop triggers and fills 1, then 1
    tape.prices(0, [101.5, 101.5])                      # back up through the target
    desk.run(tape, start_seq=start)
    fills = of_type(desk.events, OrderFilled)
    entry = sum(f.qty for f in fills if f.role == "ENTRY")
    exits = sum(f.qty for f in fills if f.role in ("STOP", "TARGET"))
    assert entry == 3
    assert exits <= entry, [(f.role, f.qty, f.price) for f in fills]
    assert desk.engine.positions()[0][0] >= 0
