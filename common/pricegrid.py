"""Prices on an instrument's tick grid, as the exchange and the broker expect them.

A price on the grid is k ticks. It is turned back into rupees as k / (ticks per rupee) whenever the
tick size divides a rupee (0.05, 0.01, 0.10, 0.0025: always so on Indian exchanges). That division
is correctly rounded, so the result is the double nearest to the decimal price — `1598.6`, never
`1598.6000000000001` (which is what `k * 0.05` gives) — and its shortest repr is the decimal a
broker checks with `price % tick_size`. Identical with and without the JIT.

- `round_nearest` for a price the engine derives (an SL leg's limit beyond its trigger);
- `round_down` / `round_up` for stops and targets, rounded *away from the entry* (a BUY's stop down,
  its target up), so a leg is never closer than configured and never lands on the entry itself;
- `off_tick` for a price someone else gave us (a strategy's LIMIT price).

Shared by signals (the legs an intent carries) and orders (the legs it places): one grid, one
rounding.
"""

import math

from numba import njit

# Slack for a quotient that is whole in decimal but lands a hair off it in binary
# (100.05 / 0.05 = 2000.9999999999998): far below one tick, far above float noise.
GRID_EPS = 1e-9


@njit(cache=True)
def on_grid(ticks, tick_size):
    """k ticks as rupees: the double nearest to the decimal value when 1 / tick_size is whole."""
    per_rupee = 1.0 / tick_size
    whole = math.floor(per_rupee + 0.5)
    if whole >= 1.0 and abs(per_rupee - whole) <= GRID_EPS * per_rupee:
        return ticks / whole
    return ticks * tick_size


@njit(cache=True)
def round_down(price, tick_size):
    return on_grid(math.floor(price / tick_size + GRID_EPS), tick_size)


@njit(cache=True)
def round_up(price, tick_size):
    return on_grid(math.ceil(price / tick_size - GRID_EPS), tick_size)


@njit(cache=True)
def round_nearest(price, tick_size):
    return on_grid(math.floor(price / tick_size + 0.5), tick_size)


@njit(cache=True)
def round_away(price, tick_size, below):
    """Down when `below` (a BUY's stop, a SELL's target), else up."""
    if below:
        return round_down(price, tick_size)
    return round_up(price, tick_size)


@njit(cache=True)
def off_tick(price, tick_size):
    """True when price is not a whole number of ticks (beyond a millionth of a tick of noise)."""
    steps = price / tick_size
    return abs(steps - math.floor(steps + 0.5)) > 1e-6
