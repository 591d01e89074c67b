"""Session VWAP per instrument: sum(price * qty) / sum(qty) since the start of the IST trading day.

The session is the IST calendar date of the tick's exchange timestamp (`ts_event_ns`); the first
tick of a later date starts a new session. A tick dated before the current session (a late tick
across midnight) is counted in the current session: a session is never reopened. A tick adds its
last traded quantity (`qty`) at its price, except a snapshot tick (FLAG_SNAPSHOT: the level re-sent
after a (re)subscription, not a new trade), which would count the same trade twice. Before the first
traded quantity of a session there is no value (NaN).

The step works on any record that has the VWAP_FIELDS below (numba specialises it per record type),
so a strategy gets VWAP by adding those fields to its state dtype (after its own fields: a record
that starts with exactly these fields is taken by numba for a subtype of VWAP_DTYPE, an experimental
feature, and may run the code compiled for VWAP_DTYPE). `vwap_update` runs it over a batch with
one VWAP_DTYPE row per instrument; `vwap_batch` is the slow reference.
"""

import math

import numpy as np
from numba import njit

from common.clock import IST_OFFSET_NS, NS_PER_S, SECONDS_PER_DAY
from common.dtypes import FLAG_SNAPSHOT

NS_PER_DAY = NS_PER_S * SECONDS_PER_DAY

VWAP_FIELDS = [
    ("vwap_day", np.int64),    # IST days since the epoch of the current session (0: none yet)
    ("vwap_pv", np.float64),   # sum of price * qty this session
    ("vwap_qty", np.float64),  # sum of qty this session
]
VWAP_DTYPE = np.dtype(VWAP_FIELDS)


@njit
def ist_day(ts_event_ns):
    """IST calendar day (days since 1970-01-01 IST) of a wall-clock timestamp in ns."""
    return (ts_event_ns + IST_OFFSET_NS) // NS_PER_DAY


@njit
def vwap_step(st, ts_event_ns, price, qty, flags):
    """Apply one tick to the VWAP fields of record `st`; returns the session VWAP or NaN."""
    day = ist_day(ts_event_ns)
    if day > st["vwap_day"]:
        st["vwap_day"] = day
        st["vwap_pv"] = 0.0
        st["vwap_qty"] = 0.0
    if qty > 0 and (flags & FLAG_SNAPSHOT) == 0:
        st["vwap_pv"] += price * qty
        st["vwap_qty"] += qty
    if st["vwap_qty"] <= 0.0:
        return math.nan
    return st["vwap_pv"] / st["vwap_qty"]


@njit(cache=True)
def vwap_update(rows, state, out):
    """VWAP after each tick of `rows` into out[i]; state[k] belongs to instrument k. Returns
    len(rows)."""
    for i in range(rows.shape[0]):
        row = rows[i]
        out[i] = vwap_step(state[row["instrument"]], row["ts_event_ns"], row["price"], row["qty"],
                           row["flags"])
    return rows.shape[0]


def vwap_batch(rows: np.ndarray, instruments: int) -> np.ndarray:
    """Reference: cumulative price * qty over cumulative qty, restarted at each new IST date."""
    out = np.full(len(rows), np.nan)
    for k in range(instruments):
        where = np.flatnonzero(rows["instrument"] == k)
        sub = rows[where]
        days = np.maximum.accumulate((sub["ts_event_ns"] + IST_OFFSET_NS) // NS_PER_DAY)
        traded = (sub["flags"] & FLAG_SNAPSHOT) == 0
        qty = np.where(traded, sub["qty"], 0).astype(np.float64)
        for day in np.unique(days):
            at = np.flatnonzero(days == day)
            pv = np.cumsum(sub["price"][at] * qty[at])
            vol = np.cumsum(qty[at])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[where[at]] = np.where(vol > 0, pv / vol, np.nan)
    return out
