"""`sim`: deterministic synthetic NSE-like ticks from a seed.

Each instrument's price alternates between trending stretches (a drift of either sign) and
mean-reverting stretches (pulled back toward an anchor), with per-tick volatility in basis points,
so a moving-average crossover strategy meets both the markets it wins in and the ones it loses in.
Prices are rounded to the instrument's tick size; bid/ask straddle the price by one tick.

Determinism: random numbers come in fixed blocks seeded by (seed, block number), and the price
process runs in a numba kernel, so tick N is the same however the reads are sized, and a restarted
feed that skips the first N ticks (`start_after`) continues with exactly tick N + 1.
Event time is synthetic market time (session date + start time, advancing 1/tick_rate per tick), so
risk rules that use the market clock behave the same on every run.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from common.clock import IST, mono_ns, parse_hhmm
from common.dtypes import FLAG_SYNTHETIC
from feed.sources.base import EndOfFeed, TickSource

BLOCK = 4096
# Per-instrument process state columns.
S_PRICE, S_ANCHOR, S_DRIFT, S_LEFT, S_MODE, S_VOLUME = range(6)


@njit(cache=True)
def sim_block(state, tick_size, pick, shocks, regime_u, regime_len_u, qty_u, vol_bps, regime_ticks,
              out_inst, out_price, out_qty, out_volume):
    """Advance the price process by one block of ticks; write instrument, price, qty, volume per tick."""
    n_inst = state.shape[0]
    for i in range(pick.shape[0]):
        k = int(pick[i] * n_inst)
        if k >= n_inst:
            k = n_inst - 1
        if state[k, S_LEFT] <= 0:   # start a new regime: trend (up or down) or mean reversion
            state[k, S_MODE] = 1.0 if regime_u[i] < 0.6 else 0.0
            state[k, S_DRIFT] = (regime_u[i] - 0.3) * vol_bps * 0.5e-4 if state[k, S_MODE] == 1.0 else 0.0
            state[k, S_ANCHOR] = state[k, S_PRICE]
            state[k, S_LEFT] = regime_ticks * (0.5 + regime_len_u[i])
        state[k, S_LEFT] -= 1.0
        p = state[k, S_PRICE]
        ret = shocks[i] * vol_bps * 1e-4
        if state[k, S_MODE] == 1.0:
            ret += state[k, S_DRIFT]
        else:
            ret += 0.02 * (state[k, S_ANCHOR] - p) / p
        p = p * (1.0 + ret)
        ts = tick_size[k]
        p = max(ts, np.round(p / ts) * ts)
        state[k, S_PRICE] = p
        q = 1 + int(qty_u[i] * 50.0)
        state[k, S_VOLUME] += q
        out_inst[i] = k
        out_price[i] = p
        out_qty[i] = q
        out_volume[i] = state[k, S_VOLUME]


class SimSource(TickSource):
    name = "sim"
    clock = "synthetic"

    def __init__(self, cfg, ref_prices, session_start_ns: int | None = None):
        super().__init__()
        self.cfg = cfg                      # config.feed.sim
        self.ref_prices = np.asarray(ref_prices, dtype=np.float64)
        self._session_start_ns = session_start_ns
        self._emitted = 0
        self._block = None                  # arrays of the current block
        self._pos = BLOCK
        self._block_no = 0
        self._pace_origin = 0

    def open(self, instruments, start_after: int = 0) -> None:
        rows = instruments.rows
        self.tick_size = rows["tick_size"].astype(np.float64).copy()
        self.state = np.zeros((len(rows), 6), dtype=np.float64)
        if self.ref_prices.size != len(rows):
            raise ValueError(f"sim: {self.ref_prices.size} reference prices for {len(rows)} instruments")
        self.state[:, S_PRICE] = self.ref_prices
        self.t0 = self._session_start_ns or self._default_session_start()
        step = 1e9 / self.cfg.tick_rate_hz if self.cfg.tick_rate_hz > 0 else 1e6
        self.step_ns = int(step)
        self._skip(start_after)
        self._paced = True
        self._restart_pacing()

    def _restart_pacing(self) -> None:
        self._pace_origin = mono_ns()       # pacing restarts from here: a restart does not burst to catch up
        self._paced_from = self._emitted

    def pace(self, on: bool) -> None:
        self._paced = on
        if on:
            self._restart_pacing()

    def _default_session_start(self) -> int:
        import datetime as dt

        date = dt.date.fromisoformat(self.cfg.session_date) if self.cfg.session_date else dt.datetime.now(IST).date()
        secs = parse_hhmm(self.cfg.start_time)
        midnight = dt.datetime(date.year, date.month, date.day, tzinfo=IST)
        return int(midnight.timestamp()) * 1_000_000_000 + secs * 1_000_000_000

    def _next_block(self) -> None:
        rng = np.random.default_rng([self.cfg.seed, self._block_no])
        self._block_no += 1
        pick, shocks = rng.random(BLOCK), rng.standard_normal(BLOCK)
        regime_u, regime_len_u, qty_u = rng.random(BLOCK), rng.random(BLOCK), rng.random(BLOCK)
        inst = np.empty(BLOCK, np.int64)
        price = np.empty(BLOCK, np.float64)
        qty = np.empty(BLOCK, np.int64)
        volume = np.empty(BLOCK, np.float64)
        sim_block(self.state, self.tick_size, pick, shocks, regime_u, regime_len_u, qty_u,
                  float(self.cfg.volatility_bps_per_tick), float(self.cfg.regime_ticks), inst, price, qty, volume)
        self._block = (inst, price, qty, volume)
        self._pos = 0

    def _skip(self, n: int) -> None:
        while n > 0:
            if self._pos >= BLOCK:
                self._next_block()
            take = min(n, BLOCK - self._pos)
            self._pos += take
            self._emitted += take
            n -= take

    def _budget(self, want: int, timeout_s: float) -> int:
        """How many ticks pacing allows now (live-like rate); sleeps up to timeout_s for the first one."""
        if self.cfg.tick_rate_hz <= 0 or not self._paced:
            return want
        deadline = time.monotonic() + timeout_s
        while True:
            due = int((mono_ns() - self._pace_origin) * self.cfg.tick_rate_hz / 1e9) + self._paced_from
            allowed = due - self._emitted
            if allowed > 0:
                return min(want, allowed)
            wait = (self._emitted + 1 - self._paced_from) / self.cfg.tick_rate_hz - (mono_ns() - self._pace_origin) / 1e9
            if time.monotonic() + wait > deadline:
                time.sleep(max(0.0, deadline - time.monotonic()))
                return 0
            time.sleep(max(wait, 0.0))

    def read(self, out: np.ndarray, timeout_s: float) -> int:
        limit = self.cfg.max_ticks
        if limit is not None and self._emitted >= limit:
            raise EndOfFeed(f"sim: {limit} ticks delivered")
        want = len(out) if limit is None else min(len(out), limit - self._emitted)
        n = self._budget(want, timeout_s)
        written = 0
        while written < n:
            if self._pos >= BLOCK:
                self._next_block()
            take = min(n - written, BLOCK - self._pos)
            inst, price, qty, volume = (a[self._pos:self._pos + take] for a in self._block)
            dst = out[written:written + take]
            dst["seq"] = 0
            dst["instrument"] = inst
            dst["price"] = price
            dst["bid"] = price - self.tick_size[inst]
            dst["ask"] = price + self.tick_size[inst]
            dst["qty"] = qty
            dst["volume"] = volume
            dst["oi"] = 0
            dst["flags"] = FLAG_SYNTHETIC
            dst["ts_event_ns"] = self.t0 + (self._emitted + 1 + np.arange(take, dtype=np.int64)) * self.step_ns
            self._pos += take
            self._emitted += take
            written += take
        out["ts_recv_ns"][:written] = mono_ns()   # "received" = handed to the feed, after generation
        self.stats.received += written
        return written
