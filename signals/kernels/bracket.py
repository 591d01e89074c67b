"""Prices of an intent's legs: the LIMIT entry, the stop-loss and the target, on the tick grid.

An intent opens a bracket: entry, stop-loss and target. For a BUY (side +1) the stop is below the
entry and the target above; for a SELL the other way round. Both exits are rounded to the
instrument's tick size *away from the entry* (BUY: stop floored, target ceiled; SELL: stop ceiled,
target floored), so a leg is never closer to the entry than configured and can never land on the
entry price itself; what it costs is less than one tick of extra distance. A LIMIT entry goes
`offset` ticks through the last price (BUY above, SELL below) so that it is marketable, on the grid
(nearest tick).

Rounding is common/pricegrid.py's: a price on the grid is the double nearest to the decimal price
(99.55, not 99.55000000000001), identically with and without the JIT.
"""

from numba import njit

# The one tick grid of OTrade (orders rounds its own prices with the same functions).
from common.pricegrid import round_down, round_nearest, round_up  # noqa: F401  (re-exported)


@njit
def bracket_exits(side, price, tick_size, stop_loss_pct, target_pct):
    """(stop_loss, target) for an entry at `price`; side +1 BUY, -1 SELL. A pct of 0 gives 0 (no
    leg)."""
    stop = 0.0
    target = 0.0
    if side > 0:
        if stop_loss_pct > 0.0:
            stop = round_down(price * (1.0 - stop_loss_pct / 100.0), tick_size)
        if target_pct > 0.0:
            target = round_up(price * (1.0 + target_pct / 100.0), tick_size)
    else:
        if stop_loss_pct > 0.0:
            stop = round_up(price * (1.0 + stop_loss_pct / 100.0), tick_size)
        if target_pct > 0.0:
            target = round_down(price * (1.0 - target_pct / 100.0), tick_size)
    return stop, target


@njit
def limit_entry(side, price, tick_size, offset_ticks):
    """A marketable LIMIT price: `offset_ticks` through the last price (BUY above, SELL below)."""
    return round_nearest(price + side * offset_ticks * tick_size, tick_size)
