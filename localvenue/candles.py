"""Candles for the local venues' history routes: deterministic, made up, in both brokers' shapes.

`session_candles(key, day, interval_s)` is a pure function of its arguments: the same instrument
key and IST day always give the same candles (a seeded random walk), so a test can compare what was
downloaded against what the venue serves. A session is NSE's 09:15-15:30 (375 one-minute candles);
5-minute and day candles are aggregated from the minute ones, as an exchange's would be. Weekends
and the venue's `holidays` have none. Prices are on a 0.05 grid, volumes whole, oi whole.

`CandleVenue` holds what the tests switch: holidays, and raw rows to add to the next answers
(`poison(rows, n)`, for malformed-candle tests). The brokers' routes (kite/history.py,
upstox/history.py) format the candles in their own wire shapes and enforce their own limits.
"""

from __future__ import annotations

import datetime as dt
import threading
import zlib

import numpy as np

SESSION_OPEN = dt.time(9, 15)
SESSION_MINUTES = 375
TICK = 0.05


def _grid(x: np.ndarray) -> np.ndarray:
    return np.round(np.round(x / TICK) * TICK, 2)


def _minutes(key: str, day: dt.date) -> np.ndarray:
    """(375, 6) minute candles of one session: open, high, low, close, volume, oi."""
    rng = np.random.default_rng(zlib.crc32(f"{key}|{day.isoformat()}".encode()))
    base = 100.0 + zlib.crc32(key.encode()) % 900 + (day.toordinal() % 7) * 0.5
    close = _grid(base * np.exp(np.cumsum(rng.normal(0.0, 0.0008, SESSION_MINUTES))))
    open_ = np.concatenate([[_grid(np.array([base]))[0]], close[:-1]])
    high = _grid(np.maximum(open_, close) + rng.integers(0, 4, SESSION_MINUTES) * TICK)
    low = _grid(np.minimum(open_, close) - rng.integers(0, 4, SESSION_MINUTES) * TICK)
    volume = rng.integers(100, 5000, SESSION_MINUTES)
    oi = 1_000_000 + np.cumsum(rng.integers(-500, 500, SESSION_MINUTES))
    return np.stack([open_, high, low, close, volume, oi], axis=1)


def session_candles(key: str, day: dt.date, interval_s: int) -> list[tuple]:
    """[(naive IST start datetime, open, high, low, close, volume, oi)] of one day, oldest first."""
    minutes = _minutes(key, day)
    per = SESSION_MINUTES if interval_s >= 86400 else interval_s // 60
    start = dt.datetime.combine(day, dt.time(0, 0) if per == SESSION_MINUTES else SESSION_OPEN)
    out = []
    for i in range(0, SESSION_MINUTES, per):
        block = minutes[i:i + per]
        out.append(
            (
                start + dt.timedelta(minutes=i),
                float(block[0, 0]),
                float(block[:, 1].max()),
                float(block[:, 2].min()),
                float(block[-1, 3]),
                int(block[:, 4].sum()),
                int(block[-1, 5]),
            )
        )
    return out


class CandleVenue:
    """The candles a local server serves, and the tests' switches on them."""

    def __init__(self, holidays=()):
        self.holidays: set[dt.date] = set(holidays)
        self._lock = threading.Lock()
        self._poison: list = []
        self._poison_left = 0

    def trading(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def candles(self, key: str, first: dt.date, last: dt.date, interval_s: int) -> list[tuple]:
        out = []
        day = first
        while day <= last:
            if self.trading(day):
                out.extend(session_candles(key, day, interval_s))
            day += dt.timedelta(days=1)
        return out

    def poison(self, rows: list, n: int = 1) -> None:
        """Add `rows` (anything JSON) to the candle list of the next `n` answers."""
        with self._lock:
            self._poison, self._poison_left = list(rows), int(n)

    def take_poison(self) -> list:
        with self._lock:
            if self._poison_left <= 0:
                return []
            self._poison_left -= 1
            return list(self._poison)
