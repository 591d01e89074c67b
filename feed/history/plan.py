"""Which calls a download makes: each broker's per-call window, and the missing days cut into
chunks.

A chunk is a run of whole IST calendar days `[first, last]` that one call fetches. Days already on
disk (or known to be empty) are left out before cutting, so a rerun asks only for what is missing,
and a chunk never covers more days than the broker allows in one call:

    Kite historical_data (kite.trade forum, staff answer: "maximum candle cap for each request"):
        minute 60 days, 5minute 100 days, day 2000 days;               3 requests a second
    Upstox Historical Candle Data V3
    (upstox.com/developer/api-documentation/v3/get-historical-candle-data):
        minutes 1-15: 1 month, days: 1 decade, "leading up to the to_date"; over it the request is
        refused as invalid. "1 month" is cut at calendar-month ends (a chunk inside one calendar
        month is within a month by any reading) and "a decade" as 3650 days (every decade is
        longer). Rate: 50 requests a second, 500 a minute, 2000 in 30 minutes (standard APIs)

Pure functions of dates: no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

INTERVALS = ("minute", "5minute", "day")


@dataclass(frozen=True)
class Window:
    """How much one call may cover: `days` calendar days, or (`month`) one calendar month at
    most."""

    days: int = 0
    month: bool = False


# broker -> interval -> (the per-call window, the interval's length in seconds)
WINDOWS = {
    "kite": {"minute": Window(days=60), "5minute": Window(days=100), "day": Window(days=2000)},
    "upstox": {
        "minute": Window(month=True),
        "5minute": Window(month=True),
        "day": Window(days=3650),
    },
}
INTERVAL_S = {"minute": 60, "5minute": 300, "day": 86400}
# (most requests, window seconds): what the client-side throttle allows (ratelimit.py).
# Upstox's are its standard-API limits (reference/brokers.md §2.4, from a third-party summary:
# UNVERIFIED); it publishes none for the candle API itself.
RATE_LIMITS = {"kite": ((3, 1.0),), "upstox": ((50, 1.0), (500, 60.0), (2000, 1800.0))}


@dataclass(frozen=True)
class Chunk:
    symbol: str
    first: dt.date
    last: dt.date            # inclusive

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def parse_day(text: str, what: str) -> dt.date:
    """`YYYY-MM-DD` → date; ValueError naming `what`."""
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days → runs of consecutive days, as (first, last)."""
    out: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if out and (day - out[-1][1]).days == 1:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def _month_end(day: dt.date) -> dt.date:
    nxt = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def cut(first: dt.date, last: dt.date, window: Window) -> list[tuple[dt.date, dt.date]]:
    """[first, last] cut into pieces no longer than `window`, oldest first."""
    pieces = []
    start = first
    while start <= last:
        end = _month_end(start) if window.month else start + dt.timedelta(days=window.days - 1)
        end = min(end, last)
        pieces.append((start, end))
        start = end + dt.timedelta(days=1)
    return pieces


def plan(broker: str, interval: str, symbols: list[str], first: dt.date, last: dt.date,
         done: dict[str, set]) -> list[Chunk]:
    """The calls still needed: for each symbol, its days in [first, last] not in `done[symbol]`,
    in runs, each run cut by the broker's window for `interval`."""
    window = WINDOWS[broker][interval]
    chunks: list[Chunk] = []
    for symbol in symbols:
        missing = [d for d in days_between(first, last) if d not in done.get(symbol, set())]
        for run_first, run_last in runs(missing):
            chunks.extend(Chunk(symbol, a, b) for a, b in cut(run_first, run_last, window))
    return chunks
