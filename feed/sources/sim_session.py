"""The `sim` source's "realistic" profile: an NSE cash session at a real pace, per instrument.

Arrivals: each instrument ticks as a Poisson process of `ticks_per_s` (a liquid NSE stock sends a
few ticks a second in the middle of the day) times an intraday activity curve: 2.5x at 09:15, fading
over the first ~half hour, and rising again to 1.8x into 15:30 (the open's price discovery and the
close's square-offs are the busiest minutes of the day). After the session's end the curve stays at
1x: the clock does not stop at 15:30, it just leaves the shape. All instruments share one merged
process (rate = instruments x ticks_per_s x activity), each tick belonging to an instrument drawn
uniformly, which is the same as one independent process per instrument.

Volatility: every tick moves the price by a normal shock of `sigma_tick`, chosen so the variance of
a whole session's ticks adds up to `daily_vol_pct` (a liquid large cap moves 1.5-2.5 % a day): the
busier open is also the more volatile open, as on the exchange. On top of that, like the stress
profile, stretches of a trend (a small drift of either sign) alternate with stretches pulled back
toward an anchor, each ~10 minutes of ticks, so a crossover strategy meets markets it wins and loses
in.

Time: the kernel returns each tick's event time as nanoseconds after the session start (start_time
of session_date, see SimSource); SimSource paces them against the wall clock at `speed`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

SESSION_S = 6 * 3600 + 15 * 60     # 09:15 to 15:30 IST
OPEN_BOOST, OPEN_DECAY_S = 1.5, 900.0     # activity 1 + 1.5 at the open, e-folding over 15 minutes
CLOSE_BOOST, CLOSE_DECAY_S = 0.8, 900.0   # and 1 + 0.8 at the close
# mean length of a trending / mean-reverting stretch, market seconds
REGIME_S = 600.0
TREND_SHARE = 0.6                  # share of stretches that trend
TREND_DRIFT = 0.01                 # a trend's drift per tick, at most this many sigma_tick
# mean reversion: this share of the distance to the anchor per tick
REVERT_PULL = 0.002
# Column indexes of the per-instrument state (the stress kernel's layout; S_PRICE is the latent
# price).
S_PRICE, S_ANCHOR, S_DRIFT, S_LEFT, S_MODE, S_VOLUME = range(6)


@njit(cache=True)
def activity(t_s):
    """Tick-rate multiplier at t_s market seconds after 09:15 (1.0 mid-session and after the
    close)."""
    if t_s < 0.0 or t_s > SESSION_S:
        return 1.0
    return (1.0 + OPEN_BOOST * math.exp(-t_s / OPEN_DECAY_S)
            + CLOSE_BOOST * math.exp(-(SESSION_S - t_s) / CLOSE_DECAY_S))


@functools.cache
def session_activity() -> float:
    """The integral of `activity` over the session, in seconds (ticks per instrument = ticks_per_s x
    it). A constant, computed once per process: feed.warm computes it in the forkserver, so a
    (re)started feed does not pay its 22,501 kernel calls (~65 ms) before READY."""
    t = np.linspace(0.0, SESSION_S, 22_501)
    a = np.array([activity(x) for x in t])
    return float(((a[1:] + a[:-1]) * 0.5 * np.diff(t)).sum())


def sigma_tick(daily_vol_pct: float, ticks_per_s: float) -> float:
    """Per-tick return standard deviation whose session sum of variances is daily_vol_pct
    squared."""
    return daily_vol_pct / 100.0 / math.sqrt(ticks_per_s * session_activity())


@njit(cache=True)
def session_block(state, tick_size, clock, open_offset_s, rate_all, sigma, regime_ticks,
                  pick, arrival_e, shocks, regime_u, regime_len_u, qty_u,
                  out_inst, out_price, out_qty, out_volume, out_offset_ns):
    """Advance the session by one block of ticks.

    clock[0] is the market time of the last tick, ns after the session start (open_offset_s is where
    the session start sits after 09:15, for the activity curve); rate_all the mid-session ticks/s
    over all instruments. Writes instrument, price, qty, cumulative volume and event-time offset per
    tick.
    """
    n_inst = state.shape[0]
    for i in range(pick.shape[0]):
        t_s = clock[0] * 1e-9 + open_offset_s
        # exponential gap at the current rate
        clock[0] += arrival_e[i] / (rate_all * activity(t_s)) * 1e9
        k = int(pick[i] * n_inst)
        if k >= n_inst:
            k = n_inst - 1
        if state[k, S_LEFT] <= 0:   # a new stretch: trend (up or down) or mean reversion
            trend = regime_u[i] < TREND_SHARE
            state[k, S_MODE] = 1.0 if trend else 0.0
            state[k, S_DRIFT] = (
                (2.0 * regime_u[i] / TREND_SHARE - 1.0) * TREND_DRIFT * sigma if trend else 0.0
            )
            state[k, S_ANCHOR] = state[k, S_PRICE]
            state[k, S_LEFT] = regime_ticks * (0.5 + regime_len_u[i])
        state[k, S_LEFT] -= 1.0
        p = state[k, S_PRICE]
        ret = shocks[i] * sigma
        if state[k, S_MODE] == 1.0:
            ret += state[k, S_DRIFT]
        else:
            ret += REVERT_PULL * (state[k, S_ANCHOR] - p) / p
        p = p * (1.0 + ret)
        # the latent price stays off the grid: rounding never sticks or drifts it
        state[k, S_PRICE] = p
        ts = tick_size[k]
        q = 1 + int(qty_u[i] * 50.0)
        state[k, S_VOLUME] += q
        out_inst[i] = k
        out_price[i] = max(ts, np.round(p / ts) * ts)
        out_qty[i] = q
        out_volume[i] = state[k, S_VOLUME]
        out_offset_ns[i] = int(clock[0])
