"""The report's price path reads a tick file as the replay feed does (common/replaycolumns.py)."""

import pytest

from reports.price_paths import from_tick_file
from tests.feed.replay_support import instrument_table, opened, read_all

T0 = 1_767_584_700_000_000_000   # 2026-01-05 09:15 IST
SYMBOLS = ["SBIN", "INFY"]


@pytest.fixture
def table():
    with instrument_table(*SYMBOLS) as t:
        yield t


def test_price_path_when_the_file_has_bad_rows_then_it_holds_the_ticks_the_replay_feed_delivers(
    tmp_path, table
):
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts_event_ns,symbol,price,qty\n"
        f"{T0},NSE:SBIN,500.05,1\n"
        f"{T0 + 1},INFY, 1500.5 ,2\n"
        f"{T0 + 2},SBIN,abc,1\n"                 # price not a number: dropped by both
        f"{T0 + 3},SBIN,501,1,extra\n"            # wrong number of fields: skipped by both
        f"x{T0 + 4},SBIN,502,1\n"                 # time not a number
        f"{T0 + 5},NSE:SBIN,1e3,1\n"
        f"{T0 + 6},INFY,-3,1\n")                   # not positive
    ticks = read_all(opened(path, table), chunk=16)
    paths = from_tick_file(str(path), {}, SYMBOLS, (0, 0))
    for i, symbol in enumerate(SYMBOLS):
        mine = ticks[ticks["instrument"] == i]
        assert paths[symbol].ts_ns.tolist() == mine["ts_event_ns"].tolist()
        assert paths[symbol].price.tolist() == mine["price"].tolist()
    assert paths["SBIN"].price.tolist() == [500.05, 1000.0]
