"""Latency histograms that cost nothing per sample: a fixed numba-updated array, no allocation.

Buckets are log-linear, in the spirit of HdrHistogram:
values in ns are bucketed by their power of two and 16 linear sub-buckets inside it, so any value up
to ~68 s is kept with at most 1/16 (6 %) relative error. Stages record into a preallocated histogram
with `record_since(hist, stamps, now)` (one numba call per batch) and publish percentiles
periodically into their stage-table row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SUB_BITS = 4
SUB = 1 << SUB_BITS
N_BUCKETS = 40 * SUB          # powers of two up to 2**40 ns (~18 min)


def new_histogram() -> np.ndarray:
    """[count per bucket..., max] as int64; index N_BUCKETS holds the maximum seen."""
    return np.zeros(N_BUCKETS + 1, dtype=np.int64)


@njit(cache=True)
def bucket_of(v):
    if v < SUB:
        return max(v, 0)
    p = 63
    while not (v >> p) & 1:
        p -= 1
    shift = p - SUB_BITS
    b = (p - SUB_BITS + 1) * SUB + ((v >> shift) & (SUB - 1))
    return min(b, N_BUCKETS - 1)


@njit(cache=True)
def bucket_low(b):
    if b < SUB:
        return b
    p = b // SUB + SUB_BITS - 1
    return (1 << p) + (b % SUB) * (1 << (p - SUB_BITS))


@njit(cache=True)
def record(hist, value_ns):
    hist[bucket_of(value_ns)] += 1
    if value_ns > hist[N_BUCKETS]:
        hist[N_BUCKETS] = value_ns


@njit(cache=True)
def record_since(hist, stamps_ns, now_ns):
    """Record now - stamp for every stamp (e.g. ticks' ts_recv_ns); returns how many."""
    for i in range(stamps_ns.shape[0]):
        record(hist, now_ns - stamps_ns[i])
    return stamps_ns.shape[0]


@njit(cache=True)
def quantile(hist, q):
    total = 0
    for b in range(N_BUCKETS):
        total += hist[b]
    if total == 0:
        return 0
    rank = q * total
    seen = 0
    for b in range(N_BUCKETS):
        seen += hist[b]
        if seen >= rank and hist[b] > 0:
            hi = bucket_low(b + 1) - 1
            return min(hi, hist[N_BUCKETS]) if b < N_BUCKETS - 1 else hist[N_BUCKETS]
    return hist[N_BUCKETS]


def summary_ns(hist: np.ndarray) -> dict:
    """count, p50, p99, p99.9 and max in ns (upper bucket edges, so never optimistic)."""
    count = int(hist[:N_BUCKETS].sum())
    return {"count": count, "p50_ns": int(quantile(hist, 0.5)), "p99_ns": int(quantile(hist, 0.99)),
            "p999_ns": int(quantile(hist, 0.999)), "max_ns": int(hist[N_BUCKETS])}


def publish(hist: np.ndarray, lat_row) -> None:
    """Write p50, p99, p99.9, max into a stage-table row's `lat_ns` (4 int64)."""
    s = summary_ns(hist)
    lat_row[0], lat_row[1], lat_row[2], lat_row[3] = (
        s["p50_ns"],
        s["p99_ns"],
        s["p999_ns"],
        s["max_ns"],
    )


def warm() -> None:
    """Load every kernel here from numba's cache (stages call it before READY: no JIT while
    trading)."""
    hist = new_histogram()
    record(hist, 1)
    record_since(hist, np.zeros(1, dtype=np.int64), 1)
    record_since(hist, np.zeros(2, dtype=[("a", np.int64), ("b", np.int64)])["a"], 1)
    quantile(hist, 0.5)
