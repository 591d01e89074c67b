"""Simple moving average of the last `n` prices, per instrument, streaming, in exact integer
arithmetic.

Prices enter as integer price units (PRICE_UNITS per rupee, i.e. 0.0001 ₹): every Indian tick grid
(0.05, 0.01, 0.0025 ₹, index values in paise) is a whole number of units, so the window's running
sum is an exact int64 and never drifts. Two averages are then compared exactly (`sma_compare`):
whether a fast and a slow SMA are level, or which is above, is decided by the prices, never by
rounding noise. A price with more than four decimals is rounded to the nearest unit first. Sums stay
exact while n × price < 9.2e14 ₹ (commit.MAX_PRICE keeps prices below ₹1e7, so any window under 9e7
prices).

Each instrument keeps a ring of at least n + 1 prices (in units, stored as float64, which holds
every integer below 2**53 exactly) and the running sum. The ring is one slot longer than the window
on purpose: the slot a new price goes into is the one that left the window on the previous update,
so writing it never disturbs the committed window. That is what lets a strategy double-buffer only
the small scalar state (signals/state.py) and share the ring between its copies: a crash after the
ring write but before the commit leaves the committed window intact, and re-applying the tick writes
the same price into the same slot.

`sma_step`, `sma_value` and `sma_compare` are the building blocks strategies inline; `sma_update`
runs them over a batch of ticks with one state row per instrument; `sma_batch` is the slow
reference.
"""

import math

import numpy as np
from numba import njit

PRICE_UNITS = 10_000  # integer price units per rupee

SMA_DTYPE = np.dtype([
    ("count", np.int64),  # prices pushed so far
    ("total", np.int64),  # sum of the last min(count, n) prices, in price units (exact)
])


@njit
def price_units(price):
    """`price` (rupees) as a whole number of price units, rounded to the nearest."""
    return np.int64(np.rint(price * PRICE_UNITS))


@njit
def sma_step(ring, count, total, units, n):
    """Push `units` as the (count + 1)-th price; returns the window's new sum (exact, in units).

    `ring` is this instrument's ring (length >= n + 1, shared by every window length that reads
    it); `count` is how many prices were pushed before this one.
    """
    size = ring.shape[0]
    ring[count % size] = units
    total += units
    if count >= n:
        total -= np.int64(ring[(count - n) % size])
    return total


@njit
def sma_value(total, pushed, n):
    """The average in rupees once `pushed` >= n prices (NaN before): the correctly rounded mean."""
    if pushed < n:
        return math.nan
    return total / (n * PRICE_UNITS)


@njit
def sma_compare(total_a, n_a, total_b, n_b):
    """The sign (+1, 0, -1) of total_a / n_a - total_b / n_b, exactly, for non-negative totals.

    Quotient first, then the remainders cross-multiplied (each below its n): no product can
    overflow, whatever the sums.
    """
    q_a, q_b = total_a // n_a, total_b // n_b
    if q_a != q_b:
        return 1 if q_a > q_b else -1
    left, right = (total_a - q_a * n_a) * n_b, (total_b - q_b * n_b) * n_a
    if left == right:
        return 0
    return 1 if left > right else -1


@njit(cache=True)
def sma_update(rows, state, rings, n, out):
    """SMA after each tick of `rows` into out[i]; state[k] / rings[k] belong to instrument k.

    rings has shape (instruments, >= n + 1). Returns the number of rows written (all of them).
    """
    for i in range(rows.shape[0]):
        k = rows[i]["instrument"]
        st = state[k]
        total = sma_step(rings[k], st["count"], st["total"], price_units(rows[i]["price"]), n)
        st["total"] = total
        st["count"] += 1
        out[i] = sma_value(total, st["count"], n)
    return rows.shape[0]


def sma_batch(rows: np.ndarray, n: int, instruments: int) -> np.ndarray:
    """Reference: the mean of each instrument's last n prices at every tick (NaN before n
    prices)."""
    out = np.full(len(rows), np.nan)
    for k in range(instruments):
        where = np.flatnonzero(rows["instrument"] == k)
        prices = rows["price"][where]
        for j in range(n - 1, len(prices)):
            out[where[j]] = prices[j - n + 1:j + 1].mean()
    return out
