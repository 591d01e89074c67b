"""Tick sanity: the last gate every tick passes before the ring, whatever its source.

A bad tick that reaches the ring moves everything downstream: a price of 1e300 fills a stop at
1e300, a timestamp in the year 2255 moves the market clock so every later tick is "out of order" or
"stale". `TickSanity.screen` drops such ticks in place and counts each by its reason:

- `malformed`        price NaN, infinite or not positive (sources drop these too; this is the
                     backstop)
- `unknown`          instrument index outside the table
- `outside_circuit`  price outside the instrument's circuit limits, when they are known (0 =
                     unknown; no source supplies them yet: `set_circuit_limits` is where one would)
- `price_jump`       price more than `max_jump_pct` % away from the instrument's last good price.
                     An instrument's first tick has no last good price: it is judged against the
                     configured `ref_price` with the wider `ref_band_pct` (0 accepts any first
                     tick).
- `ts_ahead`         `ts_event_ns` too far ahead of the feed's clock. Live sources: the wall clock,
                     `max_ahead_s`. Sim and replay: their own running clock (the newest accepted
                     tick), `max_gap_s`, which must allow for nights, weekends and holidays. A
                     replay's ticks are also refused beyond the wall clock + `max_gap_s` (a
                     recording is not from the future), so even a far-future first row cannot set
                     the clock.
- `out_of_order`     sim and replay only: earlier than the newest accepted tick.

Only an accepted tick moves the state (last good price, the event clock), so one far-future row can
neither move the clock nor make the ticks after it look out of order. A real level change (a
corporate action, a stale `ref_price`, a replay file with a long gap) would otherwise be refused
forever: after `reanchor_ticks` consecutive refused ticks that agree with each other (within the
same band, in time order) the filter accepts the new level and counts nothing more for it — never
one further than REANCHOR_MAX_FACTOR from the instrument's reference price (a stuck or mis-decoded
field repeating an absurd price is garbage however often it repeats).

The check is one numba kernel over the batch; Python runs once per batch, never per tick. Decisions
depend only on the tick sequence (and, for live sources, the wall clock), never on how it is
batched, so a restarted feed that re-screens a deterministic source's ticks reaches exactly the same
state.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from common.dtypes import TICK_DTYPE

MALFORMED, UNKNOWN, OUTSIDE_CIRCUIT, PRICE_JUMP, TS_AHEAD, OUT_OF_ORDER = range(6)
# A new level is never accepted further than this factor from the instrument's reference price (its
# ref_price, else the last good price): a split or a stale ref_price moves a price by a few times, a
# field decoded with the wrong divisor by 100.
REANCHOR_MAX_FACTOR = 20.0
REASONS = ("malformed", "unknown", "outside_circuit", "price_jump", "ts_ahead", "out_of_order")
# state rows of the event clock: [clock, candidate ts, candidate count]
C_NOW, C_CAND, C_CAND_N = range(3)


@njit(cache=True)
def _ts_verdict(t, clock, event_clock, cap_ns, max_gap_ns, reanchor):
    """-1 (fine), TS_AHEAD or OUT_OF_ORDER; tracks the candidate of a new clock level.

    cap_ns: no tick may be later (wall-clock bound; 0 = none)."""
    if cap_ns > 0 and t > cap_ns:
        return TS_AHEAD
    if not event_clock:
        return -1
    now = clock[C_NOW]
    if now == 0:
        return -1
    if t < now:
        return OUT_OF_ORDER
    if t - now <= max_gap_ns:
        return -1
    cand = clock[C_CAND]
    if clock[C_CAND_N] > 0 and t >= cand and t - cand <= max_gap_ns:
        clock[C_CAND_N] += 1
    else:
        clock[C_CAND_N] = 1
    clock[C_CAND] = t
    return -1 if reanchor > 0 and clock[C_CAND_N] >= reanchor else TS_AHEAD


@njit(cache=True)
def _price_verdict(k, p, last_good, cand, cand_n, lo, hi, ref, max_jump, ref_band, reanchor):
    """-1 (fine), MALFORMED, OUTSIDE_CIRCUIT or PRICE_JUMP; tracks the candidate of a new level."""
    if not (p > 0.0) or p == np.inf:
        return MALFORMED
    if (lo[k] > 0.0 and p < lo[k]) or (hi[k] > 0.0 and p > hi[k]):
        return OUTSIDE_CIRCUIT
    anchor, band = last_good[k], max_jump
    if anchor <= 0.0:
        anchor, band = ref[k], ref_band
    if band <= 0.0 or anchor <= 0.0 or abs(p - anchor) <= band * anchor:
        return -1
    agree = max_jump if max_jump > 0.0 else ref_band
    if cand_n[k] > 0 and abs(p - cand[k]) <= agree * cand[k]:
        cand_n[k] += 1
    else:
        cand_n[k] = 1
    cand[k] = p
    base = ref[k] if ref[k] > 0.0 else anchor
    plausible = base <= 0.0 or (p <= base * REANCHOR_MAX_FACTOR and p * REANCHOR_MAX_FACTOR >= base)
    return -1 if reanchor > 0 and cand_n[k] >= reanchor and plausible else PRICE_JUMP


@njit(cache=True)
def screen_kernel(
    price,
    ts,
    inst,
    n,
    keep,
    last_good,
    cand,
    cand_n,
    lo,
    hi,
    ref,
    max_jump,
    ref_band,
    reanchor,
    clock,
    event_clock,
    cap_ns,
    max_gap_ns,
    counts,
):
    """Judge rows [0, n): keep[i] says whether row i passes; returns how many pass."""
    n_inst = last_good.shape[0]
    kept = 0
    for i in range(n):
        k = inst[i]
        t = ts[i]
        if k >= n_inst:
            reason = UNKNOWN
        else:
            reason = _ts_verdict(t, clock, event_clock, cap_ns, max_gap_ns, reanchor)
            if reason < 0:
                reason = _price_verdict(k, price[i], last_good, cand, cand_n, lo, hi, ref, max_jump,
                                        ref_band, reanchor)
        if reason >= 0:
            counts[reason] += 1
            keep[i] = False
            continue
        keep[i] = True
        kept += 1
        last_good[k] = price[i]
        cand_n[k] = 0
        if event_clock:
            clock[C_NOW] = t if t > clock[C_NOW] else clock[C_NOW]
            clock[C_CAND_N] = 0
    return kept


def _ns(seconds: float) -> int:
    return min(int(seconds * 1e9), 1 << 62)   # no overflow in the kernel's differences


class TickSanity:
    """Per-instrument screening state for one feed process.

    cfg: config.schema.TickSanityConfig; ref_prices: the instruments' configured ref_price;
    clock: the source's `clock` — "wall" (live: judged against the wall clock), "recording" (replay:
    its own clock, and never beyond the wall clock + max_gap_s) or "synthetic" (sim: its own clock).
    """

    def __init__(self, cfg, ref_prices, clock: str, batch: int):
        if clock not in ("wall", "recording", "synthetic"):
            raise ValueError(f"unknown tick clock {clock!r}")
        n = len(ref_prices)
        self.ref = np.asarray(ref_prices, dtype=np.float64).copy()
        self.last_good = np.zeros(n, np.float64)
        self.cand = np.zeros(n, np.float64)
        self.cand_n = np.zeros(n, np.int64)
        self.circuit_lo = np.zeros(n, np.float64)
        self.circuit_hi = np.zeros(n, np.float64)
        self.clock = np.zeros(3, np.int64)
        self.counts = np.zeros(len(REASONS), np.int64)
        self.event_clock = clock != "wall"
        self.wall_cap = clock != "synthetic"
        self.max_jump = cfg.max_jump_pct / 100.0
        self.ref_band = cfg.ref_band_pct / 100.0
        self.reanchor = int(cfg.reanchor_ticks)
        self.max_ahead_ns = _ns(cfg.max_ahead_s)
        self.max_gap_ns = _ns(cfg.max_gap_s)
        self._keep = np.zeros(batch, np.bool_)
        # compaction buffer: allocated once, not per batch
        self._spare = np.zeros(batch, TICK_DTYPE)

    def set_circuit_limits(self, instrument: int, lower: float, upper: float) -> None:
        """The day's circuit limits of one instrument, rupees; 0 leaves that side unchecked."""
        self.circuit_lo[instrument], self.circuit_hi[instrument] = lower, upper

    def screen(self, rows: np.ndarray) -> int:
        """Drop the insane rows of `rows` in place; the survivors, in order, are rows[:returned]."""
        n = len(rows)
        if n == 0:
            return 0
        if n > len(self._keep):      # a larger batch than announced: grow once
            self._keep, self._spare = np.zeros(n, np.bool_), np.zeros(n, TICK_DTYPE)
        keep = self._keep
        kept = screen_kernel(
            rows["price"],
            rows["ts_event_ns"],
            rows["instrument"],
            n,
            keep,
            self.last_good,
            self.cand,
            self.cand_n,
            self.circuit_lo,
            self.circuit_hi,
            self.ref,
            self.max_jump,
            self.ref_band,
            self.reanchor,
            self.clock,
            self.event_clock,
            self.cap_ns(),
            self.max_gap_ns,
            self.counts,
        )
        # rare: compact through the spare buffer (np.compress cannot write over its input)
        if kept < n:
            np.compress(keep[:n], rows, out=self._spare[:kept])
            rows[:kept] = self._spare[:kept]
        return kept

    def cap_ns(self) -> int:
        """The latest acceptable ts_event_ns now (0 = no bound): read once per batch, never per
        tick."""
        if not self.wall_cap:
            return 0
        return time.time_ns() + (self.max_gap_ns if self.event_clock else self.max_ahead_ns)

    def count(self, reason: str) -> int:
        return int(self.counts[REASONS.index(reason)])


def warm(cfg) -> None:
    """Compile (or load from numba's cache) the kernels with the types the feed passes, on throwaway
    state: called before the stage reports READY, so the first batch never waits for the
    compiler."""
    rows = np.zeros(2, TICK_DTYPE)
    rows["price"] = 100.0
    for clock in ("wall", "recording"):
        TickSanity(cfg, [100.0], clock=clock, batch=2).screen(rows)
    event_clock_trace(rows["ts_event_ns"].copy(), 1, 1, 1, np.zeros(2, np.int64))


@njit(cache=True)
def event_clock_trace(ts, cap_ns, max_gap_ns, reanchor, out):
    """out[i] = the event clock after ts[i] if every price passed: monotone, so a replay paces by it
    (a far-future row is delivered at once, to be dropped, instead of waited for)."""
    clock = np.zeros(3, np.int64)
    for i in range(ts.shape[0]):
        if _ts_verdict(ts[i], clock, True, cap_ns, max_gap_ns, reanchor) < 0:
            clock[C_NOW] = ts[i] if ts[i] > clock[C_NOW] else clock[C_NOW]
            clock[C_CAND_N] = 0
        out[i] = clock[C_NOW]


def drop_counters(source_stats, sanity: "TickSanity") -> dict[str, int]:
    """Every drop counter of a feed, by reason: the source's own and the sanity filter's (the feed
    stage reports these; the backtest reports the same)."""
    return {
        "dropped_malformed": source_stats.dropped_malformed + sanity.count("malformed"),
        "dropped_unknown": source_stats.dropped_unknown + sanity.count("unknown"),
        "dropped_out_of_order": source_stats.dropped_out_of_order + sanity.count("out_of_order"),
        "dropped_price_jump": sanity.count("price_jump"),
        "dropped_circuit": sanity.count("outside_circuit"),
        "dropped_ts_ahead": sanity.count("ts_ahead"),
    }
