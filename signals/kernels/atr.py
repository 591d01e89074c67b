"""Average true range (Wilder), per instrument, from ticks aggregated into time bars.

Bars are time bars of `bar_ns` nanoseconds of the tick's exchange timestamp (`ts_event_ns`), aligned
to multiples of bar_ns since the epoch (for bar lengths that divide 30 minutes this is also aligned to
IST minutes: IST is UTC+05:30). Why time and not a number of ticks: ATR is read in time ("one ATR of a
1-minute bar") when sizing stops, and a tick-count bar would change meaning with the feed's tick rate
(the sim's tick_rate_hz, Kite's quote vs full mode). It stays deterministic because the timestamp is
part of the tick record: a replay gives the same bars. Exchange timestamps can step back slightly; a
tick stamped before the open bar is counted in the open bar (a closed bar is never reopened). A bar
closes when the first tick of a later bar arrives: there is no timer, so a quiet instrument's last bar
stays open.

True range of a bar: max(high - low, |high - previous close|, |low - previous close|); the first bar has
no previous close, so its TR is high - low. ATR is the mean of the first n TRs, then Wilder's
smoothing atr = (atr * (n - 1) + tr) / n. Before n closed bars there is no value (NaN).

The step works on any record that has the ATR_FIELDS below (numba specialises it per record type), so
a strategy gets ATR by adding those fields to its state dtype (after its own fields: a record
that starts with exactly these fields is taken by numba for a subtype of ATR_DTYPE, an experimental
feature, and may run the code compiled for ATR_DTYPE). `atr_update` runs it over a batch with
one ATR_DTYPE row per instrument; `atr_batch` is the slow reference.
"""

import math

import numpy as np
from numba import njit

ATR_FIELDS = [
    ("atr_bar", np.int64),       # index of the open bar (ts_event_ns // bar_ns)
    ("atr_ticks", np.int64),     # ticks seen (0: no bar opened yet)
    ("atr_high", np.float64),    # open bar
    ("atr_low", np.float64),
    ("atr_close", np.float64),
    ("atr_prev_close", np.float64),  # close of the last closed bar
    ("atr_bars", np.int64),      # closed bars
    ("atr_tr_sum", np.float64),  # sum of the first n TRs (the seed)
    ("atr_value", np.float64),   # ATR once atr_bars >= n
]
ATR_DTYPE = np.dtype(ATR_FIELDS)


@njit
def _open_bar(st, bar, price):
    st["atr_bar"] = bar
    st["atr_high"] = price
    st["atr_low"] = price
    st["atr_close"] = price


@njit
def _close_bar(st, n):
    high, low = st["atr_high"], st["atr_low"]
    tr = high - low
    if st["atr_bars"] > 0:
        prev = st["atr_prev_close"]
        tr = max(tr, abs(high - prev), abs(low - prev))
    st["atr_bars"] += 1
    if st["atr_bars"] <= n:
        st["atr_tr_sum"] += tr
        if st["atr_bars"] == n:
            st["atr_value"] = st["atr_tr_sum"] / n
    else:
        st["atr_value"] = (st["atr_value"] * (n - 1) + tr) / n
    st["atr_prev_close"] = st["atr_close"]


@njit
def atr_step(st, ts_event_ns, price, n, bar_ns):
    """Apply one tick to the ATR fields of record `st`; returns the ATR of the closed bars or NaN."""
    bar = ts_event_ns // bar_ns
    if st["atr_ticks"] == 0:
        _open_bar(st, bar, price)
    elif bar > st["atr_bar"]:
        _close_bar(st, n)
        _open_bar(st, bar, price)
    else:
        st["atr_high"] = max(st["atr_high"], price)
        st["atr_low"] = min(st["atr_low"], price)
        st["atr_close"] = price
    st["atr_ticks"] += 1
    if st["atr_bars"] < n:
        return math.nan
    return st["atr_value"]


@njit(cache=True)
def atr_update(rows, state, n, bar_ns, out):
    """ATR after each tick of `rows` into out[i]; state[k] belongs to instrument k. Returns len(rows)."""
    for i in range(rows.shape[0]):
        row = rows[i]
        out[i] = atr_step(state[row["instrument"]], row["ts_event_ns"], row["price"], n, bar_ns)
    return rows.shape[0]


def _wilder(tr: np.ndarray, n: int) -> np.ndarray:
    """ATR after each closed bar (NaN before n bars)."""
    atr = np.full(len(tr), np.nan)
    if len(tr) >= n:
        atr[n - 1] = tr[:n].mean()
        for m in range(n, len(tr)):
            atr[m] = (atr[m - 1] * (n - 1) + tr[m]) / n
    return atr


def atr_batch(rows: np.ndarray, n: int, bar_ns: int, instruments: int) -> np.ndarray:
    """Reference: bars from grouped ticks, TR per bar, Wilder ATR; a tick sees the bars closed before it."""
    out = np.full(len(rows), np.nan)
    for k in range(instruments):
        where = np.flatnonzero(rows["instrument"] == k)
        if len(where) == 0:
            continue
        prices = rows["price"][where]
        bars = np.maximum.accumulate(rows["ts_event_ns"][where] // bar_ns)
        starts = np.flatnonzero(np.r_[True, bars[1:] != bars[:-1]])
        ends = np.r_[starts[1:], len(prices)]
        high = np.array([prices[a:b].max() for a, b in zip(starts, ends)])
        low = np.array([prices[a:b].min() for a, b in zip(starts, ends)])
        close = prices[ends - 1]
        prev = np.r_[np.nan, close[:-1]]
        tr = np.where(np.isnan(prev), high - low,
                      np.maximum.reduce([high - low, np.abs(high - prev), np.abs(low - prev)]))
        atr = _wilder(tr, n)
        ordinal = np.cumsum(np.r_[True, bars[1:] != bars[:-1]]) - 1
        for j, b in enumerate(ordinal):
            if b >= 1:
                out[where[j]] = atr[b - 1]
    return out
