"""candles.py: the brokers' candle rows checked; a malformed row is dropped, counted by reason and
named."""

import datetime as dt
import json
import pathlib

from common.clock import IST
from feed.history.candles import Malformed, parse

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "kite_historical_minute.json"
DAY = dt.date(2024, 1, 2)


def _ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * 1_000_000_000


def test_parse_when_real_kite_sample_then_every_candle_is_kept_on_its_ist_day():
    # zerodha/kiteconnect-mocks sample
    rows = json.loads(FIXTURE.read_text())["data"]["candles"]
    bad = Malformed()
    days = parse("INFY", rows, {dt.date(2017, 12, 15)}, bad)
    assert bad.total == 0
    day = days[dt.date(2017, 12, 15)]
    assert len(day["ts_ns"]) == len(rows)
    assert day["ts_ns"][0] == _ns("2017-12-15T09:15:00+05:30")
    assert day["open"][0] == rows[0][1] and day["close"][-1] == rows[-1][4]
    assert day["volume"].tolist() == [r[5] for r in rows]


def test_parse_when_upstox_rows_come_newest_first_then_days_are_sorted_oldest_first():
    rows = [["2024-01-02T09:16:00+05:30", 10.0, 11.0, 9.5, 10.5, 7, 3],
            ["2024-01-02T09:15:00+05:30", 10.0, 10.5, 9.0, 10.0, 5, 2]]
    day = parse("SBIN", rows, {DAY}, Malformed())[DAY]
    assert day["ts_ns"].tolist() == [
        _ns("2024-01-02T09:15:00+05:30"),
        _ns("2024-01-02T09:16:00+05:30"),
    ]
    assert day["oi"].tolist() == [2, 3]


def test_parse_when_rows_are_malformed_then_each_is_dropped_counted_by_reason_and_named():
    good = ["2024-01-02T09:15:00+0530", 10.0, 11.0, 9.0, 10.5, 100]
    rows = [
        good,
        ["2024-01-02T09:16:00+0530", 10.0, 11.0, 9.0],                       # shape
        "not a candle",                                                       # shape
        ["2024-01-02 09:17:00", 10.0, 11.0, 9.0, 10.5, 100],                  # time: no zone
        ["yesterday", 10.0, 11.0, 9.0, 10.5, 100],                            # time
        ["2024-01-02T09:18:00+0530", "10", 11.0, 9.0, 10.5, 100],             # price: text
        ["2024-01-02T09:19:00+0530", 10.0, 11.0, 0.0, 10.5, 100],             # price: zero
        ["2024-01-02T09:20:00+0530", 10.0, 9.5, 9.0, 10.5, 100],              # range: high < close
        ["2024-01-02T09:21:00+0530", 10.0, 11.0, 9.0, 10.5, -1],              # volume
        ["2024-01-02T09:22:00+0530", 10.0, 11.0, 9.0, 10.5, 1.5],             # volume: not whole
        # outside the asked days
        ["2024-01-03T09:15:00+0530", 10.0, 11.0, 9.0, 10.5, 100],
        list(good),                                                           # duplicate
    ]
    bad = Malformed()
    days = parse("SBIN", rows, {DAY}, bad)
    assert len(days[DAY]["ts_ns"]) == 1
    assert dict(bad.counts) == {
        "shape": 2,
        "time": 2,
        "price": 2,
        "range": 1,
        "volume": 2,
        "outside": 1,
        "duplicate": 1,
    }
    assert ("SBIN", "yesterday", "time") in bad.examples
    assert ("SBIN", "2024-01-02T09:20:00+0530", "range") in bad.examples


def test_parse_when_candle_time_is_near_midnight_then_its_day_is_the_ist_day():
    # 18:29 UTC, still 2 Jan in IST
    late = ["2024-01-02T23:59:00+05:30", 10.0, 10.0, 10.0, 10.0, 0]
    days = parse("SBIN", [late], {DAY}, Malformed())
    assert list(days) == [DAY]
    assert dt.datetime.fromtimestamp(days[DAY]["ts_ns"][0] / 1e9, IST).date() == DAY
