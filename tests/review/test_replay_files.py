"""Replay files as traders save them (Excel's "CSV UTF-8" BOM, CRLF, a blank last line): the feed
and `--check-config` must agree on what is replayable, and both must take these files."""

import numpy as np
import pytest

from common.dtypes import TICK_DTYPE
from config.replaycheck import ReplayFileError, check_replay_file
from feed.sources.replay import ReplaySource
from tests.feed.replay_support import instrument_table

ROWS = b"2026-01-05 09:15:00.25,SBIN,820.5\n2026-01-05 09:15:00.75,SBIN,820.6\n"
T0 = 1_767_584_700_000_000_000   # 2026-01-05 09:15 IST


@pytest.fixture
def table():
    with instrument_table("SBIN") as t:
        yield t


def write(tmp_path, content: bytes) -> str:
    path = tmp_path / "session.csv"
    path.write_bytes(content)
    return str(path)


def delivered(path, table) -> np.ndarray:
    src = ReplaySource(path)
    src.open(table)
    out = np.zeros(8, TICK_DTYPE)
    return out[:src.read(out, timeout_s=1.0)].copy()


def test_replay_when_lines_end_in_crlf_then_both_checks_take_it_and_fractions_survive(
    tmp_path, table
):
    path = write(tmp_path, b"ts,symbol,price\r\n" + ROWS.replace(b"\n", b"\r\n"))
    check_replay_file(path, "auto")
    got = delivered(path, table)
    assert got["ts_event_ns"].tolist() == [T0 + 250_000_000, T0 + 750_000_000]


def test_replay_when_ts_has_a_timezone_suffix_then_check_config_names_line_and_column(
    tmp_path, table
):
    path = write(tmp_path, b"ts,symbol,price\n2026-01-05 09:15:00+05:30,SBIN,820.5\n")
    with pytest.raises(ReplayFileError) as e:
        check_replay_file(path, "auto")
    assert e.value.line == 2 and e.value.column == "ts"
    with pytest.raises(ReplayFileError, match="no usable tick"):
        delivered(path, table)


def test_replay_when_only_a_header_then_both_checks_refuse_it(tmp_path, table):
    path = write(tmp_path, b"ts,symbol,price\n")
    with pytest.raises(ReplayFileError, match="no rows"):
        check_replay_file(path, "auto")
    with pytest.raises(ReplayFileError, match="no usable tick"):
        delivered(path, table)


def test_replay_when_the_csv_starts_with_a_utf8_bom_then_check_config_accepts_what_the_feed_replays(
    tmp_path, table
):
    path = write(tmp_path, b"\xef\xbb\xbfts,symbol,price\n" + ROWS)
    assert len(delivered(path, table)) == 2          # the feed takes it
    check_replay_file(path, "auto")                 # ... so --check-config must too


def test_replay_when_the_file_ends_with_a_blank_line_then_check_config_accepts_what_the_feed_replays(  # noqa: E501 - the name is the test's sentence
    tmp_path, table
):
    path = write(tmp_path, b"ts,symbol,price\n" + ROWS + b"\n")
    assert len(delivered(path, table)) == 2
    check_replay_file(path, "auto")


def test_replay_when_every_ts_has_a_timezone_suffix_then_the_run_time_error_names_the_ts_column(
    tmp_path, table
):
    path = write(tmp_path, b"ts,symbol,price\n2026-01-05 09:15:00+05:30,SBIN,820.5\n"
                           b"2026-01-05 09:15:01+05:30,SBIN,820.6\n")
    with pytest.raises(ReplayFileError) as e:
        delivered(path, table)
    assert "ts" in (e.value.column or "") or "'ts'" in str(e.value), str(e.value)
