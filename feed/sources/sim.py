"""`sim`: deterministic synthetic NSE-like ticks from a seed, in one of two profiles.

"realistic" (the default; feed/sources/sim_session.py): a few ticks a second per instrument, busier
at the open and close, a realistic volatility per tick and per day, on a market clock that starts at
start_time (09:15) of session_date and runs at `speed` x the wall clock. A run in the evening trades
the simulated session from its open, as the risk rules (entry cutoff, square-off) expect.

"stress" (benchmarks, tests; the original stream, kept bit for bit): tick_rate_hz ticks a second
over all instruments. Each instrument's price alternates between trending stretches (a drift of
either sign) and mean-reverting stretches (pulled back toward an anchor), with per-tick volatility
in basis points, so a moving-average crossover strategy meets both the markets it wins in and the
ones it loses in. Prices are rounded to the instrument's tick size; bid/ask straddle the price by
one tick.

Determinism: random numbers come in fixed blocks seeded by (seed, block number), and the price
process runs in a numba kernel, so tick N is the same however the reads are sized, and a restarted
feed that skips the first N ticks (`start_after`) continues with exactly tick N + 1.
Event time is synthetic market time (session date + start time; stress: advancing 1/tick_rate per
tick; realistic: the generated arrival times), so risk rules that use the market clock behave the
same on every run.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from common.clock import IST, mono_ns, parse_hhmm
from common.dtypes import FLAG_SYNTHETIC
from config.schema import STRESS_REGIME_TICKS, STRESS_TICK_RATE_HZ, STRESS_VOLATILITY_BPS_PER_TICK
from feed.sources.base import EndOfFeed, TickSource
from feed.sources.sim_session import REGIME_S, session_block, sigma_tick

BLOCK = 4096
# Per-instrument process state columns.
S_PRICE, S_ANCHOR, S_DRIFT, S_LEFT, S_MODE, S_VOLUME = range(6)


@njit(cache=True)
def sim_block(state, tick_size, pick, shocks, regime_u, regime_len_u, qty_u, vol_bps, regime_ticks,
              out_inst, out_price, out_qty, out_volume):
    """Advance the price process by one block of ticks; write instrument, price, qty, volume per
    tick."""
    n_inst = state.shape[0]
    for i in range(pick.shape[0]):
        k = int(pick[i] * n_inst)
        if k >= n_inst:
            k = n_inst - 1
        if state[k, S_LEFT] <= 0:   # start a new regime: trend (up or down) or mean reversion
            state[k, S_MODE] = 1.0 if regime_u[i] < 0.6 else 0.0
            state[k, S_DRIFT] = (
                (regime_u[i] - 0.3) * vol_bps * 0.5e-4 if state[k, S_MODE] == 1.0 else 0.0
            )
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
        self._block: tuple[np.ndarray, ...] = ()   # arrays of the current block (none yet)
        self._pos = BLOCK
        self._block_no = 0
        self._pace_origin = 0

    def open(self, instruments, start_after: int = 0) -> None:
        rows = instruments.rows
        self.tick_size = rows["tick_size"].astype(np.float64).copy()
        self.state = np.zeros((len(rows), 6), dtype=np.float64)
        if self.ref_prices.size != len(rows):
            raise ValueError(
                f"sim: {self.ref_prices.size} reference prices for {len(rows)} instruments"
            )
        self.state[:, S_PRICE] = self.ref_prices
        self.t0 = self._session_start_ns or self._default_session_start()
        self.stress = self.cfg.profile == "stress"
        if self.stress:
            # unset stress settings: the original stream's (config/schema.py)
            c = self.cfg
            self.rate_hz = STRESS_TICK_RATE_HZ if c.tick_rate_hz is None else c.tick_rate_hz
            vol = c.volatility_bps_per_tick
            self.vol_bps = STRESS_VOLATILITY_BPS_PER_TICK if vol is None else vol
            self.regime_ticks = STRESS_REGIME_TICKS if c.regime_ticks is None else c.regime_ticks
            self.step_ns = int(1e9 / self.rate_hz if self.rate_hz > 0 else 1e6)
        else:
            self.sigma = sigma_tick(self.cfg.daily_vol_pct, self.cfg.ticks_per_s)
            self.regime_ticks = self.cfg.ticks_per_s * REGIME_S
            self._market_ns = np.zeros(1)   # market ns after t0 of the last generated tick
            self.open_offset_s = float(parse_hhmm(self.cfg.start_time) - parse_hhmm("09:15"))
            self._offset = 0                # market ns after t0 of the last emitted tick
        self._skip(start_after)
        self._paced = True
        self._restart_pacing()

    def _restart_pacing(self) -> None:
        # pacing restarts from here: a restart does not burst to catch up
        self._pace_origin = mono_ns()
        self._paced_from = self._emitted
        if not self.stress:
            self._market_from = self._offset

    def pace(self, on: bool) -> None:
        self._paced = on
        if on:
            self._restart_pacing()

    def _default_session_start(self) -> int:
        import datetime as dt

        date = (
            dt.date.fromisoformat(self.cfg.session_date)
            if self.cfg.session_date
            else dt.datetime.now(IST).date()
        )
        secs = parse_hhmm(self.cfg.start_time)
        midnight = dt.datetime(date.year, date.month, date.day, tzinfo=IST)
        return int(midnight.timestamp()) * 1_000_000_000 + secs * 1_000_000_000

    def _next_block(self) -> None:
        rng = np.random.default_rng([self.cfg.seed, self._block_no])
        self._block_no += 1
        if not self.stress:
            self._next_session_block(rng)
            return
        pick, shocks = rng.random(BLOCK), rng.standard_normal(BLOCK)
        regime_u, regime_len_u, qty_u = rng.random(BLOCK), rng.random(BLOCK), rng.random(BLOCK)
        inst = np.empty(BLOCK, np.int64)
        price = np.empty(BLOCK, np.float64)
        qty = np.empty(BLOCK, np.int64)
        volume = np.empty(BLOCK, np.float64)
        sim_block(self.state, self.tick_size, pick, shocks, regime_u, regime_len_u, qty_u,
                  float(self.vol_bps), float(self.regime_ticks), inst, price, qty, volume)
        self._block = (inst, price, qty, volume)
        self._pos = 0

    def _next_session_block(self, rng) -> None:
        """The realistic profile's next block: the same five draws plus arrival gaps
        (sim_session.py)."""
        pick, arrival_e, shocks = (
            rng.random(BLOCK),
            rng.standard_exponential(BLOCK),
            rng.standard_normal(BLOCK),
        )
        regime_u, regime_len_u, qty_u = rng.random(BLOCK), rng.random(BLOCK), rng.random(BLOCK)
        inst, qty, offset = (
            np.empty(BLOCK, np.int64),
            np.empty(BLOCK, np.int64),
            np.empty(BLOCK, np.int64),
        )
        price, volume = np.empty(BLOCK, np.float64), np.empty(BLOCK, np.float64)
        session_block(
            self.state,
            self.tick_size,
            self._market_ns,
            self.open_offset_s,
            len(self.tick_size) * float(self.cfg.ticks_per_s),
            self.sigma,
            float(self.regime_ticks),
            pick,
            arrival_e,
            shocks,
            regime_u,
            regime_len_u,
            qty_u,
            inst,
            price,
            qty,
            volume,
            offset,
        )
        self._block = (inst, price, qty, volume, offset)
        self._pos = 0

    def _skip(self, n: int) -> None:
        while n > 0:
            if self._pos >= BLOCK:
                self._next_block()
            take = min(n, BLOCK - self._pos)
            self._pos += take
            self._emitted += take
            n -= take
            if not self.stress:
                self._offset = int(self._block[4][self._pos - 1])

    def _market_budget(self, want: int, timeout_s: float) -> int:
        """Realistic: the ticks whose market time the clock (speed x wall time) has reached, within
        the current block; sleeps up to timeout_s for the first one."""
        speed = self.cfg.speed
        if self._pos >= BLOCK:
            self._next_block()
        left = min(want, BLOCK - self._pos)
        if speed <= 0 or not self._paced:
            return left
        offsets = self._block[4][self._pos:self._pos + left]
        deadline = time.monotonic() + timeout_s
        while True:
            due = self._market_from + (mono_ns() - self._pace_origin) * speed
            n = int(np.searchsorted(offsets, due, side="right"))
            if n > 0:
                return n
            wait = (offsets[0] - due) / speed / 1e9
            if time.monotonic() + wait > deadline:
                time.sleep(max(0.0, deadline - time.monotonic()))
                return 0
            time.sleep(max(wait, 0.0))

    def _budget(self, want: int, timeout_s: float) -> int:
        """How many ticks pacing allows now (live-like rate); sleeps up to timeout_s for the first
        one."""
        if not self.stress:
            return self._market_budget(want, timeout_s)
        if self.rate_hz <= 0 or not self._paced:
            return want
        deadline = time.monotonic() + timeout_s
        while True:
            due = int((mono_ns() - self._pace_origin) * self.rate_hz / 1e9) + self._paced_from
            allowed = due - self._emitted
            if allowed > 0:
                return min(want, allowed)
            wait = (self._emitted + 1 - self._paced_from) / self.rate_hz - (
                mono_ns() - self._pace_origin
            ) / 1e9
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
            inst, price, qty, volume = (a[self._pos:self._pos + take] for a in self._block[:4])
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
            if self.stress:
                dst["ts_event_ns"] = (
                    self.t0 + (self._emitted + 1 + np.arange(take, dtype=np.int64)) * self.step_ns
                )
            else:
                dst["ts_event_ns"] = self.t0 + self._block[4][self._pos:self._pos + take]
                self._offset = int(self._block[4][self._pos + take - 1])
            self._pos += take
            self._emitted += take
            written += take
        # "received" = handed to the feed, after generation
        out["ts_recv_ns"][:written] = mono_ns()
        self.stats.received += written
        return written
