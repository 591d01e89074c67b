"""Replay-file times read once, for the feed and the report alike: fractions of a second kept."""

import pyarrow as pa

from common.clock import IST_OFFSET_NS
from common.replaycolumns import timestamps, to_int


def test_ts_text_keeps_its_fraction_of_a_second():
    table = pa.table(
        {
            "ts": [
                "2026-03-02 09:15:00.25",
                "2026-03-02 09:15:00.75",
                "2026-03-02 09:15:01.5",
                "2026-03-02 09:15:01.123",
                "2026-03-02 09:15:02",
            ]
        }
    )
    ns = timestamps(table)
    base = ns[4] - 2_000_000_000
    assert [int(x - base) for x in ns] == [250_000_000, 750_000_000, 1_500_000_000, 1_123_000_000,
                                           2_000_000_000]


def test_ts_text_is_ist_wall_time_and_bad_values_are_minus_one():
    table = pa.table({"ts": ["1970-01-01 05:30:01", "2026-03-02 09:15:00.1234567891", "garbage"]})
    ns = timestamps(table)
    assert ns[0] == 1_000_000_000                 # 05:30:01 IST is 00:00:01 UTC
    assert list(ns[1:]) == [-1, -1]               # ten fraction digits; not a time
    assert IST_OFFSET_NS == 19_800_000_000_000


def test_int_text_above_int64_is_minus_one_not_an_overflow():
    col = pa.array(["9223372036854775807", "9223372036854775808", "12", "x"])
    assert list(to_int(col)) == [9223372036854775807, -1, 12, -1]
