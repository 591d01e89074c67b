"""Where a bracket's legs sit: priced from the entry's real fill (the default), re-priced as partial
fills move its average, on the tick grid as the shortest decimal, and never placed already through
the market without saying so."""

from decimal import Decimal

from common.messages import OrderModified, OrderSubmitting, SignalRaised
from orders.limits import RiskLimits
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, instruments, of_type


def fill_limits(**kw) -> RiskLimits:
    return limits_of(enforce_session=False, **kw)


def legs(events, role):
    return [m for m in of_type(events, OrderSubmitting) if m.role == role]


def on_grid(price: float, tick: str) -> bool:
    """An exact multiple of the tick, written as the shortest decimal (what the broker receives)."""
    d = Decimal(repr(price))
    return d % Decimal(tick) == 0 and -d.as_tuple().exponent <= -Decimal(tick).as_tuple().exponent


def test_legs_keep_their_distance_from_the_entrys_fill_not_from_the_signal_price(make_desk):
    desk, tape = make_desk(limits=fill_limits()), Tape()
    # signal: stop 0.5 % below, target 1 % above
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=99.5, target=101.0)])
    desk.run(tape, start_seq=tape.add(0, 100.5))          # the MARKET entry fills at 100.5
    (stop,), (target,) = legs(desk.events, "STOP"), legs(desk.events, "TARGET")
    assert stop.trigger_price == 99.95                    # 100.5 x 0.995 = 99.9975, down a tick
    assert target.price == 101.55                         # 100.5 x 1.01 = 101.505, up a tick
    approved = of_type(desk.events, SignalRaised)[0]
    assert approved.ref_price == 100.0                    # journaled: a restart prices the same


def test_partial_fills_that_move_the_average_reprice_the_working_legs(make_desk):
    desk, tape = make_desk(limits=fill_limits(), max_fill_qty_per_tick=5), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=99.5, target=101.0)])
    start = tape.add(0, 100.5)                            # 5 @ 100.5
    tape.add(0, 101.5)                                    # 5 @ 101.5: average 101.0
    desk.run(tape, start_seq=start)
    (stop,) = legs(desk.events, "STOP")
    mods = [(m.qty, m.trigger_price) for m in of_type(desk.events, OrderModified)
            if m.client_order_id == stop.client_order_id]
    assert (stop.qty, stop.trigger_price) == (5, 99.95)
    assert mods == [(10, 100.45)]                         # 101.0 x 0.995 = 100.495, down a tick
    assert desk.paper.orders()[1].trigger_price == 100.45   # the broker has it too


def test_signal_prices_stay_available_as_an_option(make_desk):
    desk, tape = make_desk(limits=fill_limits(leg_prices="signal")), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=99.5, target=101.0)])
    desk.run(tape, start_seq=tape.add(0, 100.5))
    assert legs(desk.events, "STOP")[0].trigger_price == 99.5
    assert legs(desk.events, "TARGET")[0].price == 101.0


def test_a_stop_already_through_the_market_goes_as_a_market_exit_and_is_counted(make_desk):
    desk, tape = make_desk(limits=fill_limits(leg_prices="signal")), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=99.5, target=101.0)])
    desk.run(tape, start_seq=tape.add(0, 99.4))           # gapped: filled below its own stop
    (stop,) = legs(desk.events, "STOP")
    assert stop.order_type == "MARKET"
    assert desk.engine.stats["stops_through_market"] == 1
    desk.run(tape, start_seq=tape.add(0, 99.3))
    assert desk.engine.positions()[0][0] == 0


def test_every_price_that_leaves_the_engine_is_on_the_grid_as_the_shortest_decimal(make_desk):
    rows = instruments(1, tick_size=0.05)
    desk, tape = make_desk(rows=rows, limits=fill_limits(max_order_notional_inr=1e9)), Tape()
    tape.add(0, 1606.6)
    # A strategy's float noise: prices a hair off the grid, as running sums leave them.
    desk.run(tape, [intent(1, qty=3, order_type="LIMIT", limit_price=1606.6000000000001,
                           stop_loss=1598.6000000000001, target=1622.6000000000001)])
    tape.prices(0, [1606.55, 1606.6, 1606.6])
    desk.run(tape, start_seq=2)
    sent = of_type(desk.events, OrderSubmitting)
    assert {m.role for m in sent} == {"ENTRY", "STOP", "TARGET"}
    for m in sent:
        for price in (m.price, m.trigger_price):
            assert price == 0.0 or on_grid(price, "0.05"), (m.role, repr(price))
    for o in desk.paper.orders():
        for price in (o.price, o.trigger_price):
            assert price == 0.0 or on_grid(price, "0.05"), repr(price)


def test_legs_on_a_fine_tick_grid_are_clean_too(make_desk):
    rows = instruments(1, tick_size=0.01)
    desk, tape = make_desk(rows=rows, limits=fill_limits()), Tape()
    tape.add(0, 123.47)
    desk.run(tape, [intent(1, qty=7, stop_loss=122.85, target=124.71)])
    desk.run(tape, start_seq=tape.add(0, 123.53))
    for m in of_type(desk.events, OrderSubmitting):
        for price in (m.price, m.trigger_price):
            assert price == 0.0 or on_grid(price, "0.01"), (m.role, repr(price))
