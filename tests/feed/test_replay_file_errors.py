"""Replay files that cannot be replayed fail early and by name: at `--check-config`
(config/replaycheck.py) and when the feed opens them (a ReplayFileError, which the supervisor does
not restart into)."""

import numpy as np
import pytest

from config.replaycheck import ReplayFileError, check_replay_file
from feed.replayfile import write_ticks
from feed.sources.replay import ReplaySource
from tests.feed.replay_support import instrument_table

T0 = 1_767_584_700_000_000_000   # 2026-01-05 09:15 IST
GOOD = "".join(f"{T0 + i},SBIN,820.5\n" for i in range(20))
TOO_BIG = "9223372036854775808"   # int64 max + 1


@pytest.fixture
def table():
    with instrument_table("SBIN") as t:
        yield t


# name -> (file bytes, words the error must contain: file name is always checked too)
BAD_FILES = {
    "empty": (b"", ["is empty"]),
    "header_only": (b"ts_event_ns,symbol,price\n", ["no rows"]),
    "invalid_utf8": (
        ("ts_event_ns,symbol,price\n" + GOOD).encode()
        + f"{T0 + 99},SB".encode()
        + b"\xff"
        + b"IN,820.5\n"
        + GOOD.encode(),
        ["line 22", "0xff", "UTF-8"],
    ),
    "missing_ts": (
        ("symbol,price\n" + "SBIN,820.5\n" * 5).encode(),
        ["no 'ts_event_ns' or 'ts' column"],
    ),
    "renamed_price": (("ts_event_ns,symbol,ltp\n" + GOOD).encode(), ["no 'price' column", "'ltp'"]),
}


def write(tmp_path, content: bytes, name="session.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_check_config_when_the_replay_file_is_bad_then_the_error_names_the_file_and_the_cause(
    tmp_path, kind
):
    content, words = BAD_FILES[kind]
    path = write(tmp_path, content)
    with pytest.raises(ReplayFileError) as caught:
        check_replay_file(path, "csv")
    message = str(caught.value)
    assert "session.csv" in message and caught.value.path == "feed.replay.path"
    for word in words:
        assert word in message


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_replay_source_when_the_file_is_bad_then_open_raises_a_named_replay_file_error(
    tmp_path, table, kind
):
    content, words = BAD_FILES[kind]
    path = write(tmp_path, content)
    with pytest.raises(ReplayFileError) as caught:
        ReplaySource(path).open(table)
    assert "session.csv" in str(caught.value)
    if kind in ("invalid_utf8", "missing_ts", "renamed_price"):
        for word in words:
            assert word in str(caught.value)


def test_check_config_when_a_first_row_has_a_timestamp_above_int64_then_it_names_line_and_column(
    tmp_path,
):
    path = write(tmp_path, f"ts_event_ns,symbol,price\n{GOOD}{TOO_BIG},SBIN,820.5\n".encode())
    with pytest.raises(ReplayFileError, match=r"line 22, column 'ts_event_ns'"):
        check_replay_file(path, "csv")


def test_check_config_when_a_text_ts_is_not_the_documented_format_then_it_names_line_and_column(
    tmp_path,
):
    path = write(
        tmp_path,
        b"ts,symbol,price\n2026-01-05 09:15:00.25,SBIN,820.5\n05/01/2026 09:15,SBIN,820.5\n",
    )
    with pytest.raises(ReplayFileError, match=r"line 3, column 'ts'"):
        check_replay_file(path, "csv")


def test_replay_source_when_a_row_has_a_timestamp_above_int64_then_only_that_row_is_dropped(
    tmp_path, table
):
    path = write(tmp_path, f"ts_event_ns,symbol,price\n{GOOD}{TOO_BIG},SBIN,820.5\n".encode())
    src = ReplaySource(path)
    src.open(table)
    assert src.total == 20 and src.stats.dropped_malformed == 1


def test_replay_source_when_every_row_is_unusable_then_open_says_there_is_no_usable_tick(
    tmp_path, table
):
    path = write(
        tmp_path, f"ts_event_ns,symbol,price\n{TOO_BIG},SBIN,820.5\n{T0},TCS,820.5\n".encode()
    )
    with pytest.raises(
        ReplayFileError, match=r"no usable tick \(2 rows: 1 malformed .*; 1 of instruments"
    ):
        ReplaySource(path).open(table)


def test_parquet_when_the_file_is_not_parquet_then_both_checks_name_it(tmp_path, table):
    path = write(tmp_path, b"this is not a parquet file", name="session.parquet")
    with pytest.raises(ReplayFileError, match="Parquet"):
        check_replay_file(path, "parquet")
    with pytest.raises(ReplayFileError, match="session.parquet"):
        ReplaySource(path).open(table)


def test_parquet_when_price_is_renamed_then_both_checks_refuse_it(tmp_path, table):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "session.parquet")
    pq.write_table(
        pa.table({"ts_event_ns": [T0, T0 + 1], "symbol": ["SBIN"] * 2, "ltp": [820.5] * 2}), path
    )
    for check in (
        lambda: check_replay_file(path, "parquet"),
        lambda: ReplaySource(path).open(table),
    ):
        with pytest.raises(ReplayFileError, match="no 'price' column"):
            check()


def test_check_config_when_the_replay_file_is_good_then_it_passes(tmp_path):
    csv_path = write(
        tmp_path, ("ts,symbol,price,qty\n2026-01-05 09:15:00.5,NSE:SBIN,820.5,3\n").encode()
    )
    check_replay_file(csv_path, "csv")
    parquet_path = str(tmp_path / "session.parquet")
    write_ticks(parquet_path, T0 + np.arange(3), ["SBIN"] * 3, [820.5, 820.55, 820.6])
    check_replay_file(parquet_path, "parquet")
