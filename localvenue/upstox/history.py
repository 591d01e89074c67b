"""The local Upstox server's historical-candle route (V3), in Upstox's wire format and within its
limits.

    GET /v3/historical-candle/{instrument_key}/{unit}/{interval}/{to_date}/{from_date}
    200 {"status": "success",
         "data": {"candles": [["2025-01-02T15:29:00+05:30", o, h, l, c, v, oi], ...]}}

As documented (upstox.com/developer/api-documentation/v3/get-historical-candle-data): newest candle
first, seven items always (oi 0 where there is none), both dates inclusive, and a request over the
unit's retrieval limit is refused as invalid: minutes 1-15 one month, minutes over 15 and hours one
quarter, days one decade, leading up to to_date. Here "one month" is read as: from_date no earlier
than the same day of the previous month, and the refusal is HTTP 400 UDAPI100038 (Upstox does not
publish the exact code: assumed). Needs `Authorization: Bearer <token>` like every other route.
The candles come from localvenue/candles.py (deterministic, weekends and holidays empty).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

from localvenue.candles import CandleVenue
from localvenue.upstox.exchange import UpstoxError

PREFIX = "/v3/historical-candle/"
_INVALID = "UDAPI100038"


def _months_back(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (clamped to that month's end)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month + 1, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _limit(unit: str, interval: int, to_date: dt.date) -> dt.date | None:
    """The earliest from_date one call may ask for; None for no limit."""
    if unit == "minutes":
        return _months_back(to_date, 1 if interval <= 15 else 3)
    if unit == "hours":
        return _months_back(to_date, 3)
    if unit == "days":
        return _months_back(to_date, 120)
    return None


def _day(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UpstoxError(
            400, _INVALID, f"Invalid input: {field} {text!r} is not YYYY-MM-DD"
        ) from None


class UpstoxHistoryRoute:
    def __init__(self, venue: CandleVenue | None = None):
        self.venue = venue or CandleVenue()

    def answer(self, path: str) -> dict:
        parts = path[len(PREFIX):].split("/")
        if len(parts) != 5:
            raise UpstoxError(404, "UDAPI100060", f"Resource not Found: GET {path}")
        key, unit, interval, to_text, from_text = unquote(parts[0]), *parts[1:]
        steps = {"minutes": (1, 300, 60), "hours": (1, 5, 3600), "days": (1, 1, 86400)}
        if (
            unit not in steps
            or not interval.isdigit()
            or not steps[unit][0] <= int(interval) <= steps[unit][1]
        ):
            raise UpstoxError(400, _INVALID, f"Invalid input: unit {unit!r} interval {interval!r}")
        to_date, from_date = _day(to_text, "to_date"), _day(from_text, "from_date")
        if from_date > to_date:
            raise UpstoxError(400, _INVALID, "Invalid input: from_date is after to_date")
        earliest = _limit(unit, int(interval), to_date)
        if earliest is not None and from_date < earliest:
            raise UpstoxError(
                400, _INVALID, "Invalid input: the date range exceeds the retrieval limit"
            )
        seconds = steps[unit][2] * int(interval)
        rows = [
            [when.strftime("%Y-%m-%dT%H:%M:%S+05:30"), o, h, lo, c, v, oi]
            for when, o, h, lo, c, v, oi in self.venue.candles(key, from_date, to_date, seconds)
        ]
        return {"candles": rows[::-1] + self.venue.take_poison()}
