"""Equity through time from attributed legs (reports/attribution.py) and price marks.

Equity at a moment is what the legs up to then earned, net of fees, with what is still open marked
to market: the cash of every leg (-side x qty x price - fees) plus each symbol's open quantity times
its latest known price. A symbol's prices ("marks") are the recorded tick path when the run kept
one, every fill's price, and the final last price positions.json recorded, merged in time order.
Equity starts at 0 (the capital is added by the caller where a ratio needs it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.clock import ist_date


@dataclass
class Marks:
    """symbol -> (times ns, prices), each sorted by time."""

    series: dict

    def at(self, symbol: str, times: np.ndarray) -> np.ndarray:
        """The latest price at or before each time (0 before the first known price)."""
        ts, price = self.series.get(symbol, (np.zeros(0, np.int64), np.zeros(0)))
        idx = np.searchsorted(ts, times, side="right") - 1
        return np.where(idx >= 0, price[np.maximum(idx, 0)] if len(price) else 0.0, 0.0)


def build_marks(fills: list, paths: dict, final: dict[str, float], end_ns: int) -> Marks:
    """Merge `paths` (symbol -> PricePath), every fill's price and the `final` price at `end_ns`."""
    points: dict[str, list] = {}
    for symbol, path in paths.items():
        points.setdefault(symbol, []).extend(zip(path.ts_ns.tolist(), path.price.tolist()))
    for f in fills:
        points.setdefault(f.symbol, []).append((f.ts_event_ns, f.price))
    for symbol, price in final.items():
        if price > 0 and symbol in points:
            points[symbol].append((end_ns, price))
    series = {}
    for symbol, pts in points.items():
        pts.sort(key=lambda p: p[0])  # stable: at one instant the later-listed price wins
        series[symbol] = (
            np.array([p[0] for p in pts], np.int64),
            np.array([p[1] for p in pts], np.float64),
        )
    return Marks(series)


def equity_at(legs: list, marks: Marks, times: np.ndarray) -> np.ndarray:
    """Equity (net of fees, open quantity marked) just after every leg at or before each of
    `times`."""
    times = np.asarray(times, np.int64)
    out = np.zeros(len(times))
    if not legs:
        return out
    ts = np.array([leg.ts_ns for leg in legs], np.int64)
    cash = np.cumsum([-leg.side * leg.qty * leg.price - leg.fees_inr for leg in legs])
    idx = np.searchsorted(ts, times, side="right") - 1
    out += np.where(idx >= 0, cash[np.maximum(idx, 0)], 0.0)
    for symbol in sorted({leg.symbol for leg in legs}):
        mine = [leg for leg in legs if leg.symbol == symbol]
        sts = np.array([leg.ts_ns for leg in mine], np.int64)
        qty = np.cumsum([leg.side * leg.qty for leg in mine])
        j = np.searchsorted(sts, times, side="right") - 1
        open_qty = np.where(j >= 0, qty[np.maximum(j, 0)], 0)
        out += open_qty * marks.at(symbol, times)
    return out


def drawdown_figures(times: np.ndarray, equity: np.ndarray, capital_inr: float) -> dict:
    """Deepest fall below the best equity so far (which starts at 0), in rupees and in percent of
    the capital plus that best; and the longest time spent below a best before regaining it (or
    until the end, if never regained), in market-time seconds, nights included."""
    if len(equity) == 0:
        return {"max_drawdown_inr": 0.0, "max_drawdown_pct": 0.0, "max_drawdown_duration_s": 0.0,
                "underwater_at_end": False}
    peak = np.maximum.accumulate(np.maximum(equity, 0.0))
    below = equity - peak
    pct = below / (capital_inr + peak) * 100.0
    longest, peak_at, under = 0, int(times[0]), False
    best = 0.0
    for t, e in zip(times.tolist(), equity.tolist()):
        if e >= best:
            if under:
                longest = max(longest, t - peak_at)
            best, peak_at, under = e, t, False
        else:
            under = True
            longest = max(longest, t - peak_at)
    return {"max_drawdown_inr": float(below.min()), "max_drawdown_pct": float(pct.min()),
            "max_drawdown_duration_s": longest / 1e9, "underwater_at_end": under}


def exposure_share(legs: list, windows: list[tuple[int, int]], end_ns: int) -> float | None:
    """Share of the run's market time (the sum of `windows`) with any position of `legs` open;
    None when the windows hold no time."""
    total = sum(b - a for a, b in windows)
    if total <= 0:
        return None
    qty: dict[str, int] = {}
    spans, opened = [], None
    for i, leg in enumerate(legs):
        qty[leg.symbol] = qty.get(leg.symbol, 0) + leg.side * leg.qty
        if i + 1 < len(legs) and legs[i + 1].ts_ns == leg.ts_ns:
            # legs of one instant: judge the state after all of them
            continue
        is_open = any(qty.values())
        if is_open and opened is None:
            opened = leg.ts_ns
        elif not is_open and opened is not None:
            spans.append((opened, leg.ts_ns))
            opened = None
    if opened is not None:
        spans.append((opened, end_ns))
    if not spans:
        return 0.0
    a, b = np.array(spans, np.int64).T
    return float((_window_time_before(b, windows) - _window_time_before(a, windows)).sum()) / total


def _window_time_before(t: np.ndarray, windows: list[tuple[int, int]]) -> np.ndarray:
    """Market time (within `windows`, sorted and apart) before each of `t`: the overlap of a span
    with the windows is this at its end minus this at its start, for any number of spans at once."""
    starts = np.array([w[0] for w in windows], np.int64)
    lengths = np.array([w[1] - w[0] for w in windows], np.int64)
    before = np.concatenate([[0], np.cumsum(lengths)])
    i = np.searchsorted(starts, t, side="right") - 1
    inside = np.clip(t - starts[np.maximum(i, 0)], 0, lengths[np.maximum(i, 0)])
    return np.where(i >= 0, before[np.maximum(i, 0)] + inside, 0)


def ist_day(ts_ns: int) -> str:
    return ist_date(ts_ns).isoformat()
