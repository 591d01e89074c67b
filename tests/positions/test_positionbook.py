from common.messages import OrderFilled
from positions.positionbook import PositionBook


def _fill(fill_id, side, qty, price, fees=0.0, seq=1, instrument=0):
    return OrderFilled(
        ts_event_ns=0,
        seq=seq,
        client_order_id="E1",
        broker_order_id="B1",
        fill_id=fill_id,
        strategy="mac",
        bracket_id="b",
        role="ENTRY",
        instrument=instrument,
        symbol="SBIN",
        side=side,
        qty=qty,
        price=price,
        fees_inr=fees,
        tick_seq=1,
        leaves_qty=0,
    )


def test_a_fill_seen_twice_is_applied_once():
    book = PositionBook(["SBIN"])
    assert book.apply_fill(_fill("f1", +1, 10, 100.0))
    assert not book.apply_fill(_fill("f1", +1, 10, 100.0))
    assert book.positions[0].qty == 10 and book.duplicates == 1


def test_adding_averages_and_reducing_realises_net_of_fees():
    book = PositionBook(["SBIN"])
    book.apply_fill(_fill("f1", +1, 10, 100.0, fees=1.0))
    book.apply_fill(_fill("f2", +1, 10, 110.0, fees=1.0))
    assert book.positions[0].avg_price == 105.0
    book.apply_fill(_fill("f3", -1, 5, 120.0, fees=1.0))
    pos = book.positions[0]
    assert pos.qty == 15 and pos.gross_realised_inr == 75.0 and pos.realised_pnl_inr == 72.0


def test_crossing_through_zero_opens_the_rest_at_the_fill_price():
    book = PositionBook(["SBIN"])
    book.apply_fill(_fill("f1", +1, 10, 100.0))
    book.apply_fill(_fill("f2", -1, 15, 90.0))
    pos = book.positions[0]
    assert pos.qty == -5 and pos.avg_price == 90.0 and pos.gross_realised_inr == -100.0


def test_marking_to_market_sets_unrealised_pnl_for_shorts_and_longs():
    book = PositionBook(["SBIN", "INFY"])
    book.apply_fill(_fill("f1", -1, 4, 100.0, instrument=0))
    book.apply_fill(_fill("f2", +1, 2, 50.0, instrument=1))
    book.mark([95.0, 55.0])
    assert book.positions[0].unrealised_pnl_inr == 20.0
    assert book.positions[1].unrealised_pnl_inr == 10.0
    assert book.unrealised_pnl_inr == 30.0
