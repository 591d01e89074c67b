"""Crossover of a fast and a slow series: +1 when fast crosses above slow, -1 below, 0 otherwise.

The state per instrument is the sign of (fast - slow) last time it was not zero. A cross is a change
of that sign, so touching (fast == slow) and moving back is not a cross, and a cross through
equality counts once, on the tick that completes it. Nothing is reported until both series are warm
(neither is NaN). The first warm observation only sets the sign (a series that starts above the
other has not crossed it), unless the two start level: leaving a level start (a flat, illiquid open)
is a cross.

Equality must be decided exactly, or rounding noise (±1e-12 on averages of whole-paise prices)
decides the ties those rules are about. Callers therefore hand over the sign itself (`cross_on`):
two SMAs are compared in exact integer arithmetic (kernels/sma.py, `sma_compare`). Floats that
cannot be exact (EMAs) are compared with a tie tolerance (`tie_sign`): within `tie` of each other
they are level. strategies/ma_crossover.py sets it to EMA_TIE_TICKS of the instrument's tick (5e-8 ₹
for a 0.05 tick): a million times finer than any price difference that means anything, and well
above the EMAs' rounding noise — in a flat market an EMA of n stalls up to (n + 1) / 4 ulps short of
the price, so two EMAs that are level in exact arithmetic sit up to ~4e-9 ₹ apart, either way round,
for n = 1,000 at ₹1 lakh. A true gap below the tolerance is level too: a cross through it counts on
the tick that leaves it, like a cross through equality.

`cross_on`, `tie_sign` and `cross_step` are the building blocks strategies inline;
`crossover_update` runs `cross_step` over a batch; `crossover_batch` is the slow reference.
"""

import math

import numpy as np
from numba import njit

NOT_WARM = 0
LEVEL = 2  # warm, and fast == slow on every tick so far
EMA_TIE_TICKS = 1e-6  # EMAs closer than this many ticks are level (see the module docstring)


@njit
def cross_on(side, now):
    """Returns (signal, new side) for `now`, the sign of fast - slow on a tick where both are warm.

    `side` is the last nonzero sign, NOT_WARM or LEVEL.
    """
    if now == 0:
        return 0, LEVEL if side == NOT_WARM else side
    if side == LEVEL or side == -now:
        return now, now
    return 0, now


@njit
def tie_sign(fast, slow, tie):
    """The sign of fast - slow, 0 when they are within `tie` of each other."""
    if fast - slow > tie:
        return 1
    if slow - fast > tie:
        return -1
    return 0


@njit
def cross_step(side, fast, slow, tie):
    """Returns (signal, new side) for two float series (NaN: not warm) level within `tie`."""
    if math.isnan(fast) or math.isnan(slow):
        return 0, side
    return cross_on(side, tie_sign(fast, slow, tie))


@njit(cache=True)
def crossover_update(rows, fast, slow, tie, state, out):
    """Signal for each tick into out[i] from fast[i], slow[i]; state[k] is instrument k's side."""
    for i in range(rows.shape[0]):
        k = rows[i]["instrument"]
        signal, side = cross_step(state[k], fast[i], slow[i], tie)
        state[k] = side
        out[i] = signal
    return rows.shape[0]


def crossover_batch(rows: np.ndarray, fast: np.ndarray, slow: np.ndarray, instruments: int,
                    tie: float = 0.0) -> np.ndarray:
    """Reference: per instrument, +1/-1 where the sign of fast - slow (0 within `tie`) leaves its
    last nonzero value (or a level start); NaNs are skipped, zeros keep the previous sign."""
    out = np.zeros(len(rows), dtype=np.int64)
    for k in range(instruments):
        where = np.flatnonzero(rows["instrument"] == k)
        diff = fast[where] - slow[where]
        previous = None  # None: not warm yet; 0: level so far; else the last nonzero sign
        for j in np.flatnonzero(~np.isnan(diff)):
            sign = 0 if abs(diff[j]) <= tie else int(np.sign(diff[j]))
            if sign == 0:
                previous = 0 if previous is None else previous
                continue
            if previous is not None and sign != previous:
                out[where[j]] = sign
            previous = sign
    return out
