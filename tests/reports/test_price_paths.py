"""The report's price path reads a tick file as the replay feed does (common/replaycolumns.py)."""

import numpy as np
import pytest

from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.instruments import InstrumentTable
from feed.sources.base import EndOfFeed
from feed.sources.replay import ReplaySource
from reports.price_paths import from_tick_file
from tests.support import unique_segment

T0 = 1_767_584_700_000_000_000   # 2026-01-05 09:15 IST
SYMBOLS = ["SBIN", "INFY"]


@pytest.fixture
def table():
    rows = np.zeros(2, dtype=INSTRUMENT_DTYPE)
    for i, (sym, tok) in enumerate([("SBIN", 779521), ("INFY", 408065)]):
        rows[i]["symbol"], rows[i]["token"], rows[i]["exchange"] = sym.encode(), tok, b"NSE"
        rows[i]["tick_size"], rows[i]["lot_size"] = 0.05, 1
    t = InstrumentTable.create(unique_segment("instruments"), rows)
    yield t
    t.close()
    t.unlink()


def _feed_ticks(path, table) -> np.ndarray:
    src = ReplaySource(str(path))
    src.open(table)
    out, parts = np.zeros(16, dtype=TICK_DTYPE), []
    while True:
        try:
            n = src.read(out, timeout_s=1.0)
        except EndOfFeed:
            return np.concatenate(parts)
        parts.append(out[:n].copy())


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
    ticks = _feed_ticks(path, table)
    paths = from_tick_file(str(path), {}, SYMBOLS, (0, 0))
    for i, symbol in enumerate(SYMBOLS):
        mine = ticks[ticks["instrument"] == i]
        assert paths[symbol].ts_ns.tolist() == mine["ts_event_ns"].tolist()
        assert paths[symbol].price.tolist() == mine["price"].tolist()
    assert paths["SBIN"].price.tolist() == [500.05, 1000.0]
