"""common.accounting.apply_trade against an independent model, and its three users against it."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.accounting import apply_trade
from orders.brokers.base import BrokerTrade
from orders.brokers.paper.paperbook import PaperBook
from orders.exposure import Exposure
from positions.positionbook import Position

# Prices on a 0.05 tick grid (in paise, so the model can hold them exactly); quantities of either
# sign, large enough relative to each other that positions flip through zero often.
trades = st.lists(st.tuples(st.integers(-40, 40).filter(bool), st.integers(1, 200_000)),
                  min_size=1, max_size=60)


def model(sequence):
    """Average cost kept as an exact cost basis (qty × average) rather than as a price.

    Closing `c` units of an open `q` removes the basis pro rata (basis × c / q) and realises the
    cash received minus that basis; the rest of the trade, if it goes past zero, opens a new basis.
    """
    qty, basis, realised = 0, Fraction(0), Fraction(0)
    for signed, paise in sequence:
        price = Fraction(paise, 100)
        if qty != 0 and (qty > 0) != (signed > 0):
            closing = (1 if signed > 0 else -1) * min(abs(signed), abs(qty))
            removed = basis * Fraction(-closing, qty)
            realised += -closing * price - removed
            basis -= removed
            qty += closing
            signed -= closing
        if signed:
            qty += signed
            basis += signed * price
    avg = basis / qty if qty else Fraction(0)
    return qty, avg, realised


def run(sequence):
    qty, avg, realised = 0, 0.0, 0.0
    for signed, paise in sequence:
        qty, avg, realised = apply_trade(qty, avg, realised, signed, paise / 100)
    return qty, avg, realised


@settings(max_examples=400, deadline=None)
@given(trades)
def test_apply_trade_when_random_trades_flip_through_zero_then_matches_the_cost_basis_model(
    sequence,
):
    qty, avg, realised = run(sequence)
    want_qty, want_avg, want_realised = model(sequence)
    assert qty == want_qty
    assert avg == pytest.approx(float(want_avg), rel=1e-9, abs=1e-9)
    assert realised == pytest.approx(float(want_realised), rel=1e-9, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(trades)
def test_apply_trade_when_any_trades_then_realised_plus_open_basis_equals_the_cash_paid(sequence):
    # Path-independent: whatever the order, realised P&L minus the open position's cost is the
    # cash the trades moved (sold for minus paid for).
    qty, avg, realised = run(sequence)
    cash = -sum(signed * paise / 100 for signed, paise in sequence)
    assert realised - qty * avg == pytest.approx(cash, rel=1e-9, abs=1e-6)


def test_apply_trade_when_a_trade_crosses_zero_then_the_rest_opens_at_its_price():
    assert apply_trade(10, 100.0, 0.0, -15, 90.0) == (-5, 90.0, -100.0)
    assert apply_trade(-5, 90.0, -100.0, 5, 80.0) == (0, 0.0, -50.0)


def test_apply_trade_when_quantity_is_zero_while_flat_then_nothing_changes_instead_of_dividing_by_zero():  # noqa: E501 - the name is the test's sentence
    assert apply_trade(0, 0.0, 12.5, 0, 101.0) == (0, 0.0, 12.5)
    assert apply_trade(7, 100.0, 0.0, 0, 101.0) == (7, 100.0, 0.0)


@settings(max_examples=60, deadline=None)
@given(trades)
def test_users_when_fed_the_same_trades_then_positions_paper_broker_and_engine_agree(sequence):
    want_qty, want_avg, want_realised = run(sequence)
    position = Position(0, "X")
    exposure = Exposure(1)
    paper = PaperBook()
    for i, (signed, paise) in enumerate(sequence):
        side, qty, price = (1 if signed > 0 else -1), abs(signed), paise / 100
        position.apply(side, qty, price, fees_inr=0.0)
        exposure.apply_fill(0, side, qty, price, fees_inr=0.0)
        paper.trades.append(BrokerTrade(f"T{i}", "B1", "C1", 0, side, qty, price, i + 1, i + 1))
    [broker] = paper.positions(np.array([(b"X",)], dtype=[("symbol", "S8")]))
    assert (position.qty, position.avg_price, position.gross_realised_inr) == (
        want_qty,
        want_avg,
        want_realised,
    )
    assert (
        int(exposure.pos_qty[0]),
        float(exposure.avg_price[0]),
        float(exposure.realised[0]),
    ) == (want_qty, want_avg, want_realised)
    assert (broker.qty, broker.avg_price, broker.realised_pnl_inr) == (
        want_qty,
        want_avg,
        want_realised,
    )
