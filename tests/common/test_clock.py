import datetime as dt
import pathlib
import re

import pytest

from common.clock import IST, ist_date, ist_time_of_day_s, parse_hhmm


def _ns(y, mo, d, h, mi, s=0):
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=IST).timestamp()) * 1_000_000_000


def test_parse_hhmm_accepts_minutes_and_seconds():
    assert parse_hhmm("09:15") == 9 * 3600 + 15 * 60
    assert parse_hhmm("15:10:30") == 15 * 3600 + 10 * 60 + 30


@pytest.mark.parametrize("bad", ["9", "25:00", "12:61", "ab:cd", ""])
def test_parse_hhmm_rejects_malformed_times(bad):
    with pytest.raises(ValueError):
        parse_hhmm(bad)


def test_ist_time_of_day_and_date_roll_over_at_ist_midnight_not_utc():
    just_after = _ns(2026, 1, 6, 0, 0, 5)      # 18:30:05 UTC on the 5th
    assert ist_time_of_day_s(just_after) == 5
    assert ist_date(just_after) == dt.date(2026, 1, 6)
    assert ist_time_of_day_s(_ns(2026, 1, 5, 15, 10, 5)) == 54605


# Ways of writing the IST offset (or naming the zone) that would make a second definition of it.
IST_SPELLINGS = re.compile(
    r"hours\s*=\s*5\s*,\s*minutes\s*=\s*30|hours\s*=\s*5\.5|5\s*\*\s*3600\s*\+\s*30\s*\*\s*60"
    r"|\b19_?800\b|Asia/Kolkata|Asia/Calcutta"
)
PRODUCT = (
    "common",
    "config",
    "feed",
    "signals",
    "orders",
    "positions",
    "reports",
    "backtest",
    "benchmarks",
    "supervision",
    "localvenue",
)


def test_ist_offset_when_searched_in_the_product_then_only_common_clock_defines_it():
    root = pathlib.Path(__file__).resolve().parents[2]
    files = [p for pkg in PRODUCT for p in sorted((root / pkg).rglob("*.py"))] + [
        root / "supervisor.py"
    ]
    found = {str(p.relative_to(root)) for p in files if IST_SPELLINGS.search(p.read_text())}
    assert found == {"common/clock.py"}
