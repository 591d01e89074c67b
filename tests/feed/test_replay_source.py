"""The replay source: file formats, bad rows counted and dropped, resume after a restart, pacing."""

import numpy as np
import pytest

from common.dtypes import TICK_DTYPE
from config.schema import TickSanityConfig
from feed.replayfile import write_ticks
from feed.sanity import TickSanity
from feed.sources.replay import ReplaySource
from tests.feed.replay_support import instrument_table, opened, read_all

T0 = 1_767_584_700_000_000_000   # 2026-01-05 09:15 IST


@pytest.fixture
def table():
    with instrument_table("SBIN", "INFY") as t:
        yield t


def test_bad_rows_are_counted_by_reason_and_the_good_ones_delivered_in_order(tmp_path, table):
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts_event_ns,symbol,price,qty,volume\n"
        f"{T0},NSE:SBIN,820.5,10,10\n"
        f"{T0 + 1},INFY,abc,1,1\n"            # unparsable price
        f"{T0 + 2},INFY,nan,1,1\n"            # NaN
        f"{T0 + 3},INFY,-5,1,1\n"             # non-positive
        f"{T0 + 4},TCS,3000,1,1\n"            # not in the instrument table
        f"{T0 + 5},INFY,1500.1,3,3\n"
        f"{T0 - 9},SBIN,820.0,1,11\n"         # earlier than an accepted tick
        f"{T0 + 6},SBIN,820.55\n"             # too few fields
        f"{T0 + 7},SBIN,820.6,2,13\n")
    src = opened(path, table)
    sanity = TickSanity(TickSanityConfig(), [820.0, 1500.0], clock="recording", batch=7)
    got = read_all(src, sanity)
    assert got["price"].tolist() == [820.5, 1500.1, 820.6]
    assert got["instrument"].tolist() == [0, 1, 0]
    assert got["ts_event_ns"].tolist() == [T0, T0 + 5, T0 + 7]
    s = src.stats
    assert (s.dropped_malformed, s.dropped_unknown) == (4, 1)
    # judged by the feed's filter, as every source's ticks
    assert sanity.count("out_of_order") == 1


def test_a_restarted_replay_skips_exactly_what_was_delivered(tmp_path, table):
    path = str(tmp_path / "ticks.parquet")
    n = 50
    write_ticks(path, T0 + np.arange(n), ["SBIN", "INFY"] * (n // 2), 800 + np.arange(n) * 0.05)
    whole = ReplaySource(path)
    whole.open(table)
    all_rows = read_all(whole)
    resumed = ReplaySource(path)
    resumed.open(table, start_after=17)
    assert np.array_equal(read_all(resumed)["price"], all_rows["price"][17:])


def test_text_timestamps_are_read_as_ist(tmp_path, table):
    path = tmp_path / "ticks.csv"
    path.write_text("ts,symbol,price\n2026-01-05 09:15:00,SBIN,820.5\n")
    src = opened(path, table)
    assert read_all(src)["ts_event_ns"].tolist() == [T0]


def test_text_timestamps_when_quarter_and_three_quarter_seconds_then_each_keeps_its_fraction(
    tmp_path, table
):
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts,symbol,price\n2026-01-05 09:15:00.250000,SBIN,820.5\n2026-01-05 "
        "09:15:00.750000,SBIN,820.55\n"
    )
    src = opened(path, table)
    assert read_all(src)["ts_event_ns"].tolist() == [T0 + 250_000_000, T0 + 750_000_000]


def test_text_timestamps_when_fractions_have_1_to_9_digits_then_they_are_read_as_decimals(
    tmp_path, table
):
    fractions = {
        ".5": 500_000_000,
        ".123": 123_000_000,
        ".000001": 1_000,
        ".123456789": 123_456_789,
        "": 0,
    }
    path = tmp_path / "ticks.csv"
    path.write_text("ts,symbol,price\n" + "".join(f"2026-01-05 09:15:0{i}{f},SBIN,820.5\n"
                                                  for i, f in enumerate(fractions)))
    src = opened(path, table)
    expected = [T0 + i * 1_000_000_000 + ns for i, ns in enumerate(fractions.values())]
    assert read_all(src)["ts_event_ns"].tolist() == expected


def test_text_timestamps_when_the_tail_is_not_a_fraction_then_the_row_is_malformed(tmp_path, table):
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts,symbol,price\n2026-01-05 09:15:00.,SBIN,1\n2026-01-05 09:15:00.1234567890,SBIN,1\n"
        "2026-01-05 09:15:00+05:30,SBIN,1\n2026-01-05 09:15:01.5,SBIN,820.5\n"
    )
    src = opened(path, table)
    assert read_all(src)["ts_event_ns"].tolist() == [T0 + 1_500_000_000]
    assert src.stats.dropped_malformed == 3


def test_paced_replay_when_a_row_is_far_in_the_future_then_it_is_not_waited_for(tmp_path, table):
    ts = T0 + np.arange(20) * 1_000_000
    ts[5] = 9_000_000_000_000_000_000
    path = str(tmp_path / "ticks.parquet")
    write_ticks(path, ts, ["SBIN"] * 20, np.full(20, 820.5))
    src = ReplaySource(path, speed=1.0)
    src.open(table)
    out, got = np.zeros(20, TICK_DTYPE), 0
    # 19 ms of recording at speed 1; waiting for 2255 would never end
    for _ in range(100):
        got += src.read(out, timeout_s=0.05)
        if got == 20:
            break
    assert got == 20


def test_what_the_recorder_writes_replays_to_the_same_ticks(tmp_path, table):
    from feed.replayfile import CsvAppender

    rows = np.zeros(5, dtype=TICK_DTYPE)
    rows["ts_event_ns"] = T0 + np.arange(5)
    rows["instrument"] = [0, 1, 0, 1, 0]
    rows["price"] = [820.05, 1500.1, 820.1, 1500.15, 820.2]
    rows["qty"], rows["volume"] = 3, np.arange(5) + 10
    rows["bid"], rows["ask"] = rows["price"] - 0.05, rows["price"] + 0.05
    path = str(tmp_path / "recorded.csv")
    rec = CsvAppender(path, ["SBIN", "INFY"])
    rec.append(rows[:2])
    rec.close()
    rec = CsvAppender(path, ["SBIN", "INFY"])    # a restarted feed appends, no second header
    rec.append(rows[2:])
    rec.close()
    src = ReplaySource(path)
    src.open(table)
    got = read_all(src)
    for field in ("ts_event_ns", "instrument", "price", "qty", "volume", "bid", "ask"):
        assert np.array_equal(got[field], rows[field]), field
    assert src.stats.dropped_malformed == 0


def test_replay_rows_by_token_when_a_token_is_unknown_then_that_row_is_dropped_not_a_crash(
    tmp_path, table
):
    path = tmp_path / "ticks.csv"
    path.write_text("ts_event_ns,token,price\n" + "".join(
        f"{T0 + i},{tok},820.5\n" for i, tok in enumerate([779521, 999, 408065, 779521])))
    src = opened(path, table)
    got = read_all(src)
    assert got["instrument"].tolist() == [0, 1, 0]
    assert src.stats.dropped_unknown == 1
