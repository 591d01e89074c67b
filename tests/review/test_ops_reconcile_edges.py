"""Reconciliation edge cases (orders/reconcile.py compare() and adopt(), on hand-built views).

README "Reconciliation": a confirmed difference keeps trading HALTED; orders in doubt explain
theirs; `ctl adopt` records the broker's view as the baseline and resumes.
"""

import pytest

from orders.reconcile import AccountView, Baseline, OrderRow, TradeRow, adopt, compare

SYMBOLS = ("RELIANCE", "INFY")


def view(orders=(), trades=(), positions=None, fill_ids=()):
    return AccountView({o.client_order_id: o for o in orders}, tuple(trades), dict(positions or {}),
                       frozenset(fill_ids), SYMBOLS)


def order(coid, status="ACCEPTED", qty=2, filled=0, inst=0):
    return OrderRow(coid, inst, SYMBOLS[inst], status, qty, filled)


@pytest.mark.parametrize("our_status", ["CANCELED", "REJECTED"])
def test_compare_when_we_think_an_order_final_and_the_broker_still_works_it_then_it_is_a_difference(
    our_status,
):
    # A cancel we believe done (or a rejection we recorded) while the broker still has the order
    # live: a stray order nobody manages, that can fill at any time and open a position.
    ours = view([order("X1", status=our_status)])
    theirs = view([order("X1", status="ACCEPTED")])
    diffs = compare(ours, theirs)
    assert [d.client_order_id for d in diffs] == ["X1"], diffs


def test_adopt_when_an_order_is_in_doubt_then_its_resolution_does_not_make_a_new_difference():
    # E1 is in doubt for us (the broker filled it, our lookup has not answered yet) -> explained.
    # INFY holds 3 at the broker we do not know -> a real difference the operator adopts.
    ours = view([order("E1", status="IN_DOUBT")], positions={})
    theirs = view(
        [order("E1", status="FILLED", filled=2)], [TradeRow("t1", "E1", 0, 2)], {0: 2, 1: 3}
    )
    assert [d.kind for d in compare(ours, theirs)] == ["position_differs"]    # INFY only
    baseline = adopt(ours, theirs, Baseline())
    assert compare(ours, theirs, baseline) == []
    # The lookup answers: E1 filled 2, as the broker said all along. Nothing changed at the broker.
    resolved = view([order("E1", status="FILLED", filled=2)], positions={0: 2}, fill_ids={"t1"})
    assert compare(resolved, theirs, baseline) == [], compare(resolved, theirs, baseline)


def test_compare_when_an_order_is_partially_filled_on_both_sides_alike_then_no_difference():
    """Holds: a partial fill both sides agree on (and its position) is not a difference."""
    ours = view(
        [order("E2", status="PARTIALLY_FILLED", qty=5, filled=2)], positions={0: 2}, fill_ids={"t9"}
    )
    theirs = view(
        [order("E2", status="PARTIALLY_FILLED", qty=5, filled=2)],
        [TradeRow("t9", "E2", 0, 2)],
        {0: 2},
    )
    assert compare(ours, theirs) == []


def test_compare_when_the_broker_filled_more_of_a_working_order_than_we_know_then_fill_and_trade_differ():  # noqa: E501 - the name is the test's sentence
    """Holds: a partial fill our journal lacks is named (fill_differs, unknown_trade, position)."""
    ours = view(
        [order("E3", status="PARTIALLY_FILLED", qty=5, filled=2)], positions={0: 2}, fill_ids={"t1"}
    )
    theirs = view([order("E3", status="PARTIALLY_FILLED", qty=5, filled=4)],
                  [TradeRow("t1", "E3", 0, 2), TradeRow("t2", "E3", 0, 2)], {0: 4})
    assert sorted(d.kind for d in compare(ours, theirs)) == [
        "fill_differs",
        "position_differs",
        "unknown_trade",
    ]
