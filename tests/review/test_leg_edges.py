"""Leg edges a trader meets: legs from fills on every Indian tick grid (with slippage and partial
fills), and an SL stop the market gaps through."""

from decimal import Decimal

import pytest

from common.messages import OrderFilled, OrderSubmitting, OrderModified
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, instruments, intent, of_type


def on_grid(price: float, tick: str) -> bool:
    d = Decimal(repr(price))
    return d % Decimal(tick) == 0 and -d.as_tuple().exponent <= -Decimal(tick).as_tuple().exponent


@pytest.mark.parametrize("tick,level,steps", [("0.05", 1606.6, (0.05, 0.15, 0.35)),
                                               ("0.01", 123.47, (0.01, 0.03, 0.07)),
                                               ("0.10", 2459.7, (0.1, 0.3, 0.7)),
                                               ("0.0025", 83.2475, (0.0025, 0.0075, 0.0175))])
@pytest.mark.parametrize("side", [1, -1])
def test_legs_from_partial_slipped_fills_when_on_any_indian_grid_then_every_price_sent_is_on_it(
        make_desk, tick, level, steps, side):
    t = float(tick)
    desk, tape = make_desk(rows=instruments(1, tick_size=t),
                           limits=limits_of(enforce_session=False, max_order_notional_inr=1e9),
                           max_fill_qty_per_tick=2, slippage_ticks=1), Tape()
    tape.add(0, level)
    # Odd distances (0.37 % stop, 0.83 % target) so the fill-derived legs are never round.
    desk.run(tape, [intent(1, qty=7, side=side, stop_loss=level * (1 - side * 0.0037),
                           target=level * (1 + side * 0.0083))])
    start = tape.seq + 1
    for s in steps:                                      # four partial fills at moving prices
        tape.add(0, round(level + side * s, 4))
    tape.add(0, round(level + side * steps[-1], 4))
    desk.run(tape, start_seq=start)
    assert sum(f.qty for f in of_type(desk.events, OrderFilled) if f.role == "ENTRY") == 7
    sent = of_type(desk.events, OrderSubmitting) + of_type(desk.events, OrderModified)
    assert {m.role for m in of_type(desk.events, OrderSubmitting)} >= {"STOP", "TARGET"}
    for m in sent:
        for price in (m.price, m.trigger_price):
            assert price == 0.0 or on_grid(price, tick), (type(m).__name__, repr(price))
    for o in desk.paper.orders():
        for price in (o.price, o.trigger_price):
            assert price == 0.0 or on_grid(price, tick), repr(price)


def test_sl_stop_when_the_market_gaps_through_its_limit_then_the_position_is_closed_within_a_minute(
    make_desk,
):
    desk, tape = make_desk(limits=limits_of(enforce_session=False, leg_prices="signal"),
                           stop_order_type="SL"), Tape(step_ms=1000)
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=99.5, target=101.0)])
    # the entry fills; SL 99.5 / limit 99.4 placed
    start = tape.add(0, 100.0)
    for _ in range(60):                                  # a minute at 95: 4.4 % through the limit
        tape.add(0, 95.0)
    desk.run(tape, start_seq=start)
    stops = [m for m in of_type(desk.events, OrderSubmitting) if m.role == "STOP"]
    assert stops[0].order_type == "SL" and stops[0].price == 99.4
    assert desk.engine.positions()[0][0] == 0


@pytest.mark.parametrize("side", [1, -1])
def test_legs_when_partial_slipped_fills_move_the_average_then_they_keep_the_distance_from_it(
    make_desk, side
):
    from common.pricegrid import round_away
    desk, tape = make_desk(limits=limits_of(enforce_session=False), max_fill_qty_per_tick=3,
                           slippage_ticks=2), Tape()
    tape.add(0, 500.0)
    ref, stop_at, target_at = 500.0, 500.0 * (1 - side * 0.004), 500.0 * (1 + side * 0.009)
    desk.run(tape, [intent(1, qty=9, side=side, stop_loss=stop_at, target=target_at)])
    start = tape.seq + 1
    for move in (0.3, 0.8, 1.45):                       # three partial fills, each slipped 2 ticks
        tape.add(0, 500.0 + side * move)
    tape.add(0, 500.0 + side * 1.45)
    desk.run(tape, start_seq=start)
    entries = [f for f in of_type(desk.events, OrderFilled) if f.role == "ENTRY"]
    assert sum(f.qty for f in entries) == 9
    avg = sum(f.qty * f.price for f in entries) / 9
    stop = desk.engine.book.orders[desk.engine.desk.brackets["mac:0:1"].stops[-1]]
    target = desk.engine.book.orders[desk.engine.desk.brackets["mac:0:1"].targets[-1]]
    assert (stop.qty, target.qty) == (9, 9)
    assert stop.trigger_price == pytest.approx(
        float(round_away(avg * stop_at / ref, 0.05, side > 0)), abs=1e-9
    )
    assert target.price == pytest.approx(
        float(round_away(avg * target_at / ref, 0.05, side < 0)), abs=1e-9
    )
    # The broker holds the same prices the engine believes.
    at_broker = {
        o.order_type: o for o in desk.paper.orders() if o.status not in ("COMPLETE", "CANCELLED")
    }
    assert (
        at_broker["SL-M"].trigger_price == stop.trigger_price
        and at_broker["LIMIT"].price == target.price
    )
