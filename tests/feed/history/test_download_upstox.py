"""`python -m feed.history upstox ...` through the official upstox-python-sdk (HistoryV3Api) against
the local Upstox venue."""

import datetime as dt

import orjson
import pyarrow.parquet as pq

from feed.history.store import HistoryStore
from tests.feed.history.venues import (UPSTOX_HISTORY, Sleeps, files_under, run_cli,  # noqa: F401
                                       trading_days, upstox_venue)

D = dt.date
KEY = "SBIN=NSE_EQ|INE062A01020"


def _argv(venue, out, first, last, interval="minute"):
    return ["upstox", KEY, "--from", first, "--to", last, "--interval", interval, "--out", str(out),
            "--root", venue.url]


def test_download_when_upstox_minute_spans_three_months_then_one_call_a_calendar_month(
    upstox_venue, tmp_path, capsys
):
    assert run_cli(_argv(upstox_venue, tmp_path / "h", "2024-01-15", "2024-03-10")) == 0
    paths = [p for m, p in upstox_venue.requests if p.startswith(UPSTOX_HISTORY)]
    assert paths == [
        f"{UPSTOX_HISTORY}NSE_EQ%7CINE062A01020/minutes/1/{to}/{first}"
        for first, to in [
            ("2024-01-15", "2024-01-31"),
            ("2024-02-01", "2024-02-29"),
            ("2024-03-01", "2024-03-10"),
        ]
    ]
    store = HistoryStore(str(tmp_path / "h"), "minute")
    assert sorted(store.written_days("SBIN")) == trading_days(D(2024, 1, 15), D(2024, 3, 10))
    table = pq.read_table(store.day_path("SBIN", D(2024, 2, 1)))
    ts = table.column("ts_event_ns").to_pylist()
    # Upstox sends newest first; stored oldest first
    assert len(ts) == 375 and ts == sorted(ts)
    assert orjson.loads(capsys.readouterr().out)["calls"] == 3


def test_download_when_upstox_rerun_then_no_call(upstox_venue, tmp_path):
    argv = _argv(upstox_venue, tmp_path / "h", "2024-01-01", "2024-01-31", interval="5minute")
    assert run_cli(argv) == 0
    assert run_cli(argv) == 0
    assert upstox_venue.count("GET", UPSTOX_HISTORY) == 1
    day = HistoryStore(str(tmp_path / "h"), "5minute").day_path("SBIN", D(2024, 1, 2))
    assert pq.read_table(day).num_rows == 75


def test_download_when_upstox_answers_429_then_it_backs_off_and_succeeds(upstox_venue, tmp_path):
    upstox_venue.fail_next("429", 1, route="GET /v3/historical-candle")
    sleeps = Sleeps()
    assert (
        run_cli(_argv(upstox_venue, tmp_path / "h", "2024-01-01", "2024-01-05"), sleep=sleeps) == 0
    )
    assert upstox_venue.count("GET", UPSTOX_HISTORY) == 2 and len(sleeps) == 1
    assert len(HistoryStore(str(tmp_path / "h"), "minute").written_days("SBIN")) == 5


def test_download_when_upstox_token_refused_then_exit_3_names_the_login_command(
    upstox_venue, tmp_path, capsys
):
    from config.secrets import Secrets

    wrong = Secrets({"UPSTOX_ACCESS_TOKEN": "expired-token-value"})
    assert (
        run_cli(_argv(upstox_venue, tmp_path / "h", "2024-01-01", "2024-03-31"), secrets=wrong) == 3
    )
    out, err = capsys.readouterr()
    assert "python -m orders.brokers.upstox.login" in err and "UDAPI100050" in err
    assert "expired-token-value" not in out + err
    assert upstox_venue.count("GET", UPSTOX_HISTORY) == 1
    assert files_under(tmp_path / "h") == []


def test_download_when_upstox_token_is_unset_then_exit_2_names_the_variable(
    upstox_venue, tmp_path, capsys
):
    from config.secrets import Secrets

    assert (
        run_cli(
            _argv(upstox_venue, tmp_path / "h", "2024-01-01", "2024-01-05"), secrets=Secrets({})
        )
        == 2
    )
    assert "UPSTOX_ACCESS_TOKEN" in capsys.readouterr().err
    assert upstox_venue.count("GET", UPSTOX_HISTORY) == 0
