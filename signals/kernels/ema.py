"""Exponential moving average, per instrument, streaming.

alpha = 2 / (n + 1). The first value is the SMA of the first n prices (so the average does not start
from whichever price happened to come first), and from then on ema += alpha * (price - ema). Before
n prices there is no value (NaN).

`ema_step` is the building block strategies inline; `ema_update` runs it over a batch of ticks with
one state row per instrument; `ema_batch` is the slow reference the tests compare against.
"""

import math

import numpy as np
from numba import njit

EMA_DTYPE = np.dtype([
    ("count", np.int64),   # prices seen so far
    ("seed", np.float64),  # sum of the first min(count, n) prices (the SMA seed)
    ("value", np.float64),  # the EMA once count >= n
])


@njit
def ema_step(count, seed, value, price, n):
    """Apply `price` as the (count + 1)-th price; returns (new seed sum, EMA or NaN while < n
    prices)."""
    if count < n:
        seed += price
        if count + 1 == n:
            return seed, seed / n
        return seed, math.nan
    alpha = 2.0 / (n + 1.0)
    return seed, value + alpha * (price - value)


@njit(cache=True)
def ema_update(rows, state, n, out):
    """EMA after each tick of `rows` into out[i]; state[k] belongs to instrument k. Returns
    len(rows)."""
    for i in range(rows.shape[0]):
        st = state[rows[i]["instrument"]]
        seed, value = ema_step(st["count"], st["seed"], st["value"], rows[i]["price"], n)
        st["seed"] = seed
        st["value"] = value
        st["count"] += 1
        out[i] = value
    return rows.shape[0]


def ema_batch(rows: np.ndarray, n: int, instruments: int) -> np.ndarray:
    """Reference: the seeded EMA of each instrument's prices at every tick (NaN before n prices)."""
    out = np.full(len(rows), np.nan)
    alpha = 2.0 / (n + 1.0)
    for k in range(instruments):
        where = np.flatnonzero(rows["instrument"] == k)
        prices = rows["price"][where]
        if len(prices) < n:
            continue
        value = prices[:n].mean()
        out[where[n - 1]] = value
        for j in range(n, len(prices)):
            value = alpha * prices[j] + (1.0 - alpha) * value
            out[where[j]] = value
    return out
