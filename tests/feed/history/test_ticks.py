"""ticks.py: candles → four ticks each by the documented rule; a downloaded directory replays
through the replay feed and the in-process backtest."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.clock import IST
from common.dtypes import TICK_DTYPE
from feed.history.ticks import NoHistory, expand, to_replay
from feed.sources.base import EndOfFeed
from feed.sources.replay import ReplaySource
from tests.feed.history.venues import kite_venue, run_cli  # noqa: F401

NS = 1_000_000_000
T0 = int(dt.datetime(2024, 1, 2, 9, 15, tzinfo=IST).timestamp()) * NS


def _table(candles):
    o, h, lo, c, v = zip(*candles)
    n = len(candles)
    return pa.table(
        {
            "ts_event_ns": np.arange(n, dtype=np.int64) * 60 * NS + T0,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": np.array(v, np.int64),
            "oi": np.zeros(n, np.int64),
        }
    )


def test_expand_when_the_high_is_nearer_the_open_then_open_high_low_close():
    ticks = expand("SBIN", _table([(100.0, 101.0, 97.0, 98.0, 10)]), "minute")
    assert ticks["price"].tolist() == [100.0, 101.0, 97.0, 98.0]
    assert ticks["ts_event_ns"].tolist() == [T0, T0 + 15 * NS, T0 + 30 * NS, T0 + 45 * NS]


def test_expand_when_the_low_is_nearer_the_open_then_open_low_high_close():
    ticks = expand("SBIN", _table([(100.0, 104.0, 99.0, 103.0, 10)]), "minute")
    assert ticks["price"].tolist() == [100.0, 99.0, 104.0, 103.0]


def test_expand_when_extremes_are_equally_far_then_the_candle_direction_decides():
    up, down = (
        expand(
            "SBIN",
            _table([(100.0, 102.0, 98.0, 101.0, 0), (100.0, 102.0, 98.0, 99.0, 0)]),
            "minute",
        )["price"]
        .reshape(2, 4)
        .tolist()
    )
    assert up == [100.0, 98.0, 102.0, 101.0] and down == [100.0, 102.0, 98.0, 99.0]


def test_expand_when_volume_does_not_divide_by_four_then_the_close_tick_takes_the_rest_and_volume_accumulates():  # noqa: E501 - the name is the test's sentence
    ticks = expand(
        "SBIN", _table([(100.0, 101.0, 99.0, 100.0, 10), (100.0, 101.0, 99.0, 100.0, 4)]), "minute"
    )
    assert ticks["qty"].tolist() == [2, 2, 2, 4, 1, 1, 1, 1]
    assert ticks["volume"].tolist() == [2, 4, 6, 10, 11, 12, 13, 14]


def test_expand_when_day_candles_then_ticks_fall_in_the_nse_session():
    midnight = int(dt.datetime(2024, 1, 2, tzinfo=IST).timestamp()) * NS
    table = _table([(100.0, 101.0, 99.0, 100.5, 8)]).set_column(
        0, "ts_event_ns", pa.array([midnight])
    )
    ts = expand("SBIN", table, "day")["ts_event_ns"]
    times = [dt.datetime.fromtimestamp(t / NS, IST).time() for t in ts.tolist()]
    assert times == [dt.time(9, 15), dt.time(10, 48, 45), dt.time(12, 22, 30), dt.time(13, 56, 15)]


def test_to_replay_when_the_directory_has_no_such_interval_then_no_history_names_it(tmp_path):
    with pytest.raises(NoHistory, match="interval=day"):
        to_replay(str(tmp_path), str(tmp_path / "r.parquet"), "day")


def _replayed(path, instruments):
    source = ReplaySource(path, speed=0.0)
    source.open(instruments)
    buf, rows = np.zeros(4096, TICK_DTYPE), []
    while True:
        try:
            n = source.read(buf, timeout_s=0.0)
        except EndOfFeed:
            return np.concatenate(rows), source.stats
        rows.append(buf[:n].copy())


def test_downloaded_history_when_converted_then_the_replay_feed_reads_every_tick_and_a_backtest_runs(  # noqa: E501 - the name is the test's sentence
    kite_venue, tmp_path
):
    from backtest.runner import run_backtest
    from backtest.tape import local_instruments
    from config.loader import load_config
    from tests.backtest.cases import write_config

    out = str(tmp_path / "h")
    argv = [
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-03",
        "--interval",
        "minute",
        "--out",
        out,
        "--root",
        kite_venue.url,
    ]
    assert run_cli(["kite", "SBIN=779521", "INFY=408065", *argv]) == 0
    replay = str(tmp_path / "hist.parquet")
    assert run_cli(["to-replay", out, "--out", replay]) == 0
    # 2 symbols, 2 sessions, 375 candles, 4 ticks
    assert pq.read_table(replay).num_rows == 2 * 2 * 375 * 4

    first = pq.read_table(replay).to_pylist()
    ref = {
        s: round(next(r["price"] for r in first if r["symbol"] == s) / 0.05) * 0.05
        for s in ("SBIN", "INFY")
    }
    instruments = [{"symbol": s, "token": t, "tick_size": 0.05, "ref_price": round(ref[s], 2)}
                   for s, t in (("SBIN", 779521), ("INFY", 408065))]
    config_path = write_config(tmp_path, {"instruments": instruments,
                                          "feed": {"source": "replay", "replay": {"path": replay}},
                                          "strategies": [{"name": "mac", "kind": "ma_crossover",
                                                          "params": {"fast": 5, "slow": 20}}]})
    config = load_config(config_path).config
    from common.instruments import instrument_rows

    table = local_instruments(instrument_rows(config))
    ticks, stats = _replayed(replay, table)
    table.close()
    assert len(ticks) == 6000 and stats.dropped_malformed == 0 and stats.dropped_unknown == 0
    assert np.all(np.diff(ticks["ts_event_ns"]) >= 0)

    summary = run_backtest(config, str(tmp_path / "run"), report=False)
    assert summary["stages"]["feed"]["counters"]["ticks"] == 6000
    assert summary["fills"] > 0
