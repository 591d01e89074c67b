"""Simple moving average of the last `n` prices, per instrument, streaming.

Each instrument keeps a ring of at least n + 1 prices and a running sum. The ring is one slot longer
than the window on purpose: the slot a new price goes into is the one that left the window on the
previous update, so writing it never disturbs the committed window. That is what lets a strategy
double-buffer only the small scalar state (signals/state.py) and share the ring between its copies: a
crash after the ring write but before the commit leaves the committed window intact, and re-applying
the tick writes the same price into the same slot.

Numerics: a running sum drifts (every add/subtract rounds). Every n updates the sum is recomputed from
the window itself, so the error never accumulates over more than n steps (relative error ~ n * 2**-53).

`sma_step` is the building block strategies inline; `sma_update` runs it over a batch of ticks with
one state row per instrument; `sma_batch` is the slow reference the tests compare against.
"""

import math

import numpy as np
from numba import njit

SMA_DTYPE = np.dtype([
    ("count", np.int64),  # prices pushed so far
    ("total", np.float64),  # running sum of the last min(count, n) prices
])


@njit
def sma_step(ring, count, total, price, n):
    """Push `price` as the (count + 1)-th price; returns (new total, SMA or NaN while < n prices).

    `ring` is this instrument's price ring (length >= n + 1, shared by every window length that
    reads it); `count` is how many prices were pushed before this one.
    """
    size = ring.shape[0]
    ring[count % size] = price
    total += price
    if count >= n:
        total -= ring[(count - n) % size]
    pushed = count + 1
    if pushed >= n and pushed % n == 0:
        total = 0.0
        for j in range(pushed - n, pushed):
            total += ring[j % size]
    if pushed < n:
        return total, math.nan
    return total, total / n


@njit(cache=True)
def sma_update(rows, state, rings, n, out):
    """SMA after each tick of `rows` into out[i]; state[k] / rings[k] belong to instrument k.

    rings has shape (instruments, >= n + 1). Returns the number of rows written (all of them).
    """
    for i in range(rows.shape[0]):
        k = rows[i]["instrument"]
        st = state[k]
        total, value = sma_step(rings[k], st["count"], st["total"], rows[i]["price"], n)
        st["total"] = total
        st["count"] += 1
        out[i] = value
    return rows.shape[0]


def sma_batch(rows: np.ndarray, n: int, instruments: int) -> np.ndarray:
    """Reference: the mean of each instrument's last n prices at every tick (NaN before n prices)."""
    out = np.full(len(rows), np.nan)
    for k in range(instruments):
        where = np.flatnonzero(rows["instrument"] == k)
        prices = rows["price"][where]
        for j in range(n - 1, len(prices)):
            out[where[j]] = prices[j - n + 1:j + 1].mean()
    return out
