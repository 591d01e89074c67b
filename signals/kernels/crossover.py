"""Crossover of a fast and a slow series: +1 when fast crosses above slow, -1 below, 0 otherwise.

The state per instrument is the sign of (fast - slow) last time it was not zero. A cross is a change
of that sign, so touching (fast == slow) and moving back is not a cross, and a cross through equality
counts once, on the tick that completes it. Nothing is reported until both series are warm (neither is
NaN). The first warm observation only sets the sign (a series that starts above the other has not
crossed it), unless the two start level: leaving a level start (a flat, illiquid open) is a cross.

`cross_step` is the building block strategies inline; `crossover_update` runs it over a batch;
`crossover_batch` is the slow reference.
"""

import math

import numpy as np
from numba import njit

NOT_WARM = 0
LEVEL = 2  # warm, and fast == slow on every tick so far


@njit
def cross_step(side, fast, slow):
    """Returns (signal, new side); `side` is the last nonzero sign of fast - slow, NOT_WARM or LEVEL."""
    if math.isnan(fast) or math.isnan(slow):
        return 0, side
    if fast > slow:
        now = 1
    elif fast < slow:
        now = -1
    else:
        return 0, LEVEL if side == NOT_WARM else side
    if side == LEVEL or side == -now:
        return now, now
    return 0, now


@njit(cache=True)
def crossover_update(rows, fast, slow, state, out):
    """Signal for each tick into out[i] from fast[i], slow[i]; state[k] is instrument k's side."""
    for i in range(rows.shape[0]):
        k = rows[i]["instrument"]
        signal, side = cross_step(state[k], fast[i], slow[i])
        state[k] = side
        out[i] = signal
    return rows.shape[0]


def crossover_batch(rows: np.ndarray, fast: np.ndarray, slow: np.ndarray, instruments: int) -> np.ndarray:
    """Reference: per instrument, +1/-1 where the sign of fast - slow leaves its last nonzero value
    (or a level start); NaNs are skipped, zeros keep the previous sign."""
    out = np.zeros(len(rows), dtype=np.int64)
    for k in range(instruments):
        where = np.flatnonzero(rows["instrument"] == k)
        diff = fast[where] - slow[where]
        previous = None  # None: not warm yet; 0: level so far; else the last nonzero sign
        for j in np.flatnonzero(~np.isnan(diff)):
            sign = int(np.sign(diff[j]))
            if sign == 0:
                previous = 0 if previous is None else previous
                continue
            if previous is not None and sign != previous:
                out[where[j]] = sign
            previous = sign
    return out
