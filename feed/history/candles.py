"""Raw candle rows from a broker → checked columns, every malformed row counted by reason and named.

Both brokers send a candle as a JSON array `[time, open, high, low, close, volume, (oi)]`; Kite's
time is `2017-12-15T09:15:00+0530`, Upstox's `2025-01-02T09:15:00+05:30` (the start of the candle,
with its zone). A row is malformed, and dropped, when:

    shape      not an array of 6 or 7 items
    time       not an ISO time with a zone
    price      open/high/low/close not a finite number > 0
    range      high below open, close or low, or low above open or close
    volume     not a whole number >= 0 (the same for oi, when sent)
    outside    its IST day is not one the call asked for
    duplicate  a second candle with the same time (the first is kept)

`Malformed` keeps the count per reason and the first few examples (symbol, time text, reason), so
the summary can name what was dropped. Everything is rupees; times become int64 ns since the epoch
(UTC), and the IST calendar day of each candle is kept for partitioning.
"""

from __future__ import annotations

import collections
import datetime as dt
import math

import numpy as np

from common.clock import IST

REASONS = ("shape", "time", "price", "range", "volume", "outside", "duplicate")
MAX_EXAMPLES = 20
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class Malformed:
    def __init__(self):
        self.counts: collections.Counter = collections.Counter()
        self.examples: list[tuple[str, str, str]] = []     # (symbol, time text, reason)

    def add(self, symbol: str, row, reason: str) -> None:
        self.counts[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            when = str(row[0])[:40] if isinstance(row, (list, tuple)) and row else repr(row)[:40]
            self.examples.append((symbol, when, reason))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _whole(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def _time_ns(text) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None          # a time without a zone cannot be placed on the IST calendar safely
    delta = when - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _reason(row, days: set[dt.date]) -> tuple[str, tuple | None]:
    """("", parsed) for a good row, else (reason, None)."""
    if not isinstance(row, (list, tuple)) or len(row) not in (6, 7):
        return "shape", None
    ts = _time_ns(row[0])
    if ts is None:
        return "time", None
    prices = [p for p in (_number(v) for v in row[1:5]) if p is not None and p > 0]
    if len(prices) != 4:
        return "price", None
    o, h, lo, c = prices
    if h < max(o, c, lo) or lo > min(o, c):
        return "range", None
    volume = _whole(row[5])
    oi = _whole(row[6]) if len(row) == 7 else 0
    if volume is None or oi is None:
        return "volume", None
    day = dt.datetime.fromtimestamp(ts / 1e9, IST).date()
    if day not in days:
        return "outside", None
    return "", (ts, day, o, h, lo, c, volume, oi)


def parse(symbol: str, rows, days: set[dt.date], malformed: Malformed) -> dict[dt.date, dict]:
    """The good candles of `rows` grouped by IST day, each day's columns sorted by time:
    {day: {"ts_ns", "open", "high", "low", "close", "volume", "oi"}} (numpy arrays)."""
    kept: dict[int, tuple] = {}
    for row in rows if isinstance(rows, list) else []:
        reason, good = _reason(row, days)     # good is None exactly when there is a reason
        if good is not None and good[0] in kept:
            reason = "duplicate"
        if reason or good is None:
            malformed.add(symbol, row, reason)
            continue
        kept[good[0]] = good
    by_day: dict[dt.date, list] = collections.defaultdict(list)
    for ts in sorted(kept):                      # Upstox sends newest first, Kite oldest first
        by_day[kept[ts][1]].append(kept[ts])
    return {day: _columns(items) for day, items in by_day.items()}


def _columns(items: list[tuple]) -> dict:
    ts, _, o, h, lo, c, v, oi = zip(*items)
    return {"ts_ns": np.array(ts, np.int64), "open": np.array(o), "high": np.array(h),
            "low": np.array(lo), "close": np.array(c), "volume": np.array(v, np.int64),
            "oi": np.array(oi, np.int64)}
