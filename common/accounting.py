"""Average-cost accounting of one instrument's position: the one definition every part of OTrade
uses.

The orders engine's exposure (what risk and the daily loss limit judge), the paper broker's
positions (what a reconcile compares against) and the positions stage's book (positions.json and the
report, which replays fills through it) all call `apply_trade`, so the three can only disagree about
which fills they saw, never about what a fill does to a position.

The rule (the brokers' "day" P&L is computed the same way):
- Adding to a position (or opening one from flat) moves the average price to the quantity-weighted
  mean of the old average and the trade's price.
- Reducing realises (price - average) per unit closed, in the position's direction; the average of
  what stays open does not change.
- A trade through zero realises the closed part and opens the remainder at the trade's price.
- Flat means an average of 0.

Fees are not part of it: each caller books them apart (fees are rupees paid, not a price effect).
"""

from __future__ import annotations


def apply_trade(qty: int, avg: float, realised: float, signed_qty: int,
                price: float) -> tuple[int, float, float]:
    """(qty, avg, realised) after a trade of `signed_qty` (> 0 buy, < 0 sell) at `price`.

    `qty` is the signed open quantity (> 0 long, < 0 short), `avg` its average price and `realised`
    the realised P&L so far in rupees, before fees. A zero-quantity trade changes nothing.
    """
    if signed_qty == 0:
        return qty, avg, realised
    if qty == 0 or (qty > 0) == (signed_qty > 0):
        new_qty = qty + signed_qty
        return new_qty, (avg * abs(qty) + price * abs(signed_qty)) / abs(new_qty), realised
    closed = min(abs(qty), abs(signed_qty))
    realised += closed * (price - avg) * (1 if qty > 0 else -1)
    new_qty = qty + signed_qty
    if new_qty == 0:
        return 0, 0.0, realised
    if (new_qty > 0) != (qty > 0):     # through zero: the remainder opens at this price
        return new_qty, price, realised
    return new_qty, avg, realised
