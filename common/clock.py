"""The two clocks every stage reads, and India Standard Time helpers.

- `now_ns()` is wall-clock time (ns since the Unix epoch, UTC). It stamps `ts_init_ns`. It can jump
  (NTP), so never measure a latency with it. (Session hours are judged by the ticks' own
  `ts_event_ns`, the market clock, so that a replay behaves the same on every run.)
- `mono_ns()` is `time.perf_counter_ns`, which on Linux is `clock_gettime(CLOCK_MONOTONIC)`: one
  system-wide clock, so two processes on the same host can subtract each other's readings. It stamps
  ticks' `ts_recv_ns`, and latency histograms use it. Its epoch is arbitrary (boot), so it is never
  written as a wall time.

Market hours are IST (UTC+05:30, no daylight saving since 1945), so IST is a fixed offset and
needs no tz database. Imports only the standard library.
"""

import datetime as dt
import time

# Bound directly (no wrapper) so a call on the hot path costs one C call.
now_ns = time.time_ns
mono_ns = time.perf_counter_ns

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
IST_OFFSET_NS = (5 * 3600 + 30 * 60) * 1_000_000_000
NS_PER_S = 1_000_000_000
SECONDS_PER_DAY = 86_400


def ist_time_of_day_s(ts_ns: int) -> int:
    """Whole seconds since IST midnight for a wall-clock timestamp in ns (0 .. 86399)."""
    return ((ts_ns + IST_OFFSET_NS) // NS_PER_S) % SECONDS_PER_DAY


def ist_date(ts_ns: int) -> dt.date:
    """The IST calendar date of a wall-clock timestamp in ns (the trading day it belongs to)."""
    days = (ts_ns + IST_OFFSET_NS) // (NS_PER_S * SECONDS_PER_DAY)
    return dt.date(1970, 1, 1) + dt.timedelta(days=days)


def ist_midnight_ns(ts_ns: int) -> int:
    """Wall-clock ns of the IST midnight that starts the day containing `ts_ns`."""
    return ts_ns - (ts_ns + IST_OFFSET_NS) % (NS_PER_S * SECONDS_PER_DAY)


def parse_hhmm(text: str) -> int:
    """Seconds since midnight for "HH:MM" or "HH:MM:SS" (24-hour clock), e.g. "15:10" -> 54600.

    Raises
    ------
    ValueError
        If the text is not a valid time of day; the message quotes it, so a config loader can wrap
        it in a ConfigError naming the field.
    """
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValueError(f"time of day must be HH:MM or HH:MM:SS, got {text!r}")
    hours, minutes = int(parts[0]), int(parts[1])
    seconds = int(parts[2]) if len(parts) == 3 else 0
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"time of day out of range: {text!r}")
    return hours * 3600 + minutes * 60 + seconds
