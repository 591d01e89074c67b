"""Which trade and strategy a fill belongs to: brackets, shared square-offs, and what nothing
explains."""

import pytest

from reports.attribution import UNATTRIBUTED, attribute, split_pro_rata
from tests.reports.test_statistics import at, fill


@pytest.mark.parametrize("qty, open_qty, shares", [
    (5, [4, 4, 2], [2, 2, 1]),          # exact
    (2, [1, 1, 1], [1, 1, 0]),          # remainders tie: the trade opened first gets the share
    (3, [5, 1], [3, 0]),                # 2.5 / 0.5: the larger remainder (a tie) goes to the first
    (4, [1, 2], [1, 2]),                # more than is open: each trade its whole quantity, no more
    (7, [], []),
])
def test_split_pro_rata_when_a_close_spans_trades_then_whole_shares_by_open_quantity(
    qty, open_qty, shares
):
    assert split_pro_rata(qty, open_qty) == shares


def test_a_squareoff_when_two_strategies_are_open_then_it_closes_both_pro_rata_with_its_fee():
    result = attribute([fill(1, at(0, "10:00"), "SBIN", +1, 30, 100.0, 0.0, "fast", "f1"),
                        fill(2, at(0, "10:01"), "SBIN", +1, 10, 100.0, 0.0, "slow", "s1"),
                        fill(3, at(0, "15:10"), "SBIN", -1, 40, 101.0, 4.0, role="SQUAREOFF")])
    shares = [(leg.strategy, leg.trade, leg.qty, leg.fees_inr) for leg in result.legs[2:]]
    assert shares == [
        ("fast", "f1#1", 30, pytest.approx(3.0)),
        ("slow", "s1#1", 10, pytest.approx(1.0)),
    ]
    assert [(t.trade, t.closed, t.net_inr) for t in result.trades] == [
        ("f1#1", True, pytest.approx(27.0)),
        ("s1#1", True, pytest.approx(9.0)),
    ]


def test_a_close_when_no_trade_is_open_on_its_side_then_the_rest_is_unattributed():
    # long 4 in a bracket; a flatten sells 6: 4 close the bracket, 2 open an unattributed short,
    # which a later unattributed buy closes
    result = attribute([fill(1, at(0, "10:00"), "SBIN", +1, 4, 100.0, 0.0, "fast", "f1"),
                        fill(2, at(0, "10:05"), "SBIN", -1, 6, 99.0, 0.6, role="FLATTEN"),
                        fill(3, at(0, "10:06"), "SBIN", +1, 2, 98.0, 0.0, role="FLATTEN")])
    assert [(leg.strategy, leg.qty) for leg in result.legs] == [
        ("fast", 4),
        ("fast", 4),
        (UNATTRIBUTED, 2),
        (UNATTRIBUTED, 2),
    ]
    assert sum(leg.fees_inr for leg in result.legs) == pytest.approx(0.6)
    assert [(t.strategy, t.closed, t.net_inr) for t in result.trades] == [
        ("fast", True, pytest.approx(-4.0 - 0.4)), (UNATTRIBUTED, True, pytest.approx(2.0 - 0.2))]


def test_fills_of_one_bracket_id_when_it_is_reused_later_then_each_round_trip_is_its_own_trade():
    # no bracket: strategy:symbol
    result = attribute([fill(1, at(0, "10:00"), "SBIN", +1, 1, 100.0, 0.0, "fast"),
                        fill(2, at(0, "10:01"), "SBIN", -1, 1, 101.0, 0.0, "fast"),
                        fill(3, at(0, "10:02"), "SBIN", -1, 1, 102.0, 0.0, "fast")])
    assert [(t.trade, t.side, t.closed) for t in result.trades] == [
        ("fast:SBIN#1", 1, True),
        ("fast:SBIN#2", -1, False),
    ]
