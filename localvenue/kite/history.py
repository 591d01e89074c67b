"""The local Kite server's historical-candle route, in Kite's wire format and within Kite's limits.

    GET /instruments/historical/{instrument_token}/{interval}?from=&to=&continuous=0|1&oi=0|1
    200 {"status": "success",
         "data": {"candles": [["2017-12-15T09:15:00+0530", o, h, l, c, v(, oi)], ...]}}

The candle shape and time format are those of the real sample `historical_minute.json`
(zerodha/kiteconnect-mocks): oldest first, the start of each candle with a `+0530` zone, oi as a
seventh item only when asked for. `from`/`to` are `yyyy-mm-dd hh:mm:ss` (or a bare date) IST, both
inclusive. Kite refuses a range longer than its per-call cap for the interval (forum, staff:
minute 60 days, 3/5/10minute 100, 15/30minute 200, 60minute 400, day 2000) with an
InputException, and so does this route, so a client that does not chunk fails here as it would
there. The candles themselves come from localvenue/candles.py (deterministic, weekends and
holidays empty).
"""

from __future__ import annotations

import datetime as dt

from localvenue.candles import CandleVenue
from localvenue.kite.protocol import KiteError

# interval -> (seconds, most days a call)
LIMITS = {
    "minute": (60, 60),
    "3minute": (180, 100),
    "5minute": (300, 100),
    "10minute": (600, 100),
    "15minute": (900, 200),
    "30minute": (1800, 200),
    "60minute": (3600, 400),
    "day": (86400, 2000),
}


def _when(text: str, field: str) -> dt.datetime:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise KiteError(400, "InputException", f"invalid `{field}`: {text!r}")


class KiteHistoryRoute:
    def __init__(self, venue: CandleVenue | None = None):
        self.venue = venue or CandleVenue()

    def answer(self, args: dict, form: dict) -> dict:
        interval = args["interval"]
        if interval not in LIMITS:
            raise KiteError(400, "InputException", f"invalid interval: {interval}")
        start, end = _when(form.get("from", ""), "from"), _when(form.get("to", ""), "to")
        if end < start:
            raise KiteError(400, "InputException", "`from` date cannot be after `to` date")
        seconds, max_days = LIMITS[interval]
        if (end - start) > dt.timedelta(days=max_days):
            raise KiteError(400, "InputException", f"interval exceeds max limit: {max_days} days")
        oi = form.get("oi") == "1"
        rows = []
        for when, o, h, lo, c, v, interest in self.venue.candles(
            args["instrument_token"], start.date(), end.date(), seconds
        ):
            if start <= when <= end:
                row = [when.strftime("%Y-%m-%dT%H:%M:%S+0530"), o, h, lo, c, v]
                rows.append(row + [interest] if oi else row)
        return {"candles": rows + self.venue.take_poison()}
