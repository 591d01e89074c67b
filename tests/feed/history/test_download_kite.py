"""`python -m feed.history kite ...` through the official kiteconnect SDK against the local Kite
venue."""

import datetime as dt
import os
import shutil

import orjson
import pyarrow.parquet as pq

from feed.history.download import Download
from feed.history.kite import KiteHistory
from feed.history.store import HistoryStore
from feed.history.ratelimit import RateLimiter
from tests.feed.history.venues import (
    KITE_HISTORY,
    KITE_KEY,
    KITE_TOKEN,
    TODAY,
    Sleeps,
    files_under,
    kite_venue,  # noqa: F401 - a fixture: pytest injects it by its name
    run_cli,
    trading_days,
)

D = dt.date
SPAN = ["--from", "2024-01-01", "--to", "2024-05-29"]          # 150 days


def _argv(venue, out, *extra, symbols=("SBIN=779521",), span=SPAN, interval="minute"):
    return [
        "kite",
        *symbols,
        *span,
        "--interval",
        interval,
        "--out",
        str(out),
        "--root",
        venue.url,
        *extra,
    ]


def test_download_when_150_minute_days_then_three_calls_and_one_file_per_trading_day(
    kite_venue, tmp_path, capsys
):
    assert run_cli(_argv(kite_venue, tmp_path / "h")) == 0
    assert kite_venue.count("GET", KITE_HISTORY) == 3
    store = HistoryStore(str(tmp_path / "h"), "minute")
    expected = trading_days(D(2024, 1, 1), D(2024, 5, 29))
    assert sorted(store.written_days("SBIN")) == expected
    table = pq.read_table(store.day_path("SBIN", D(2024, 1, 2)))
    assert table.num_rows == 375
    assert table.schema.metadata[b"otrade_broker"] == b"kite"
    summary = orjson.loads(capsys.readouterr().out)
    assert summary["calls"] == 3 and summary["days_written"] == len(expected)
    assert summary["days_empty"] == 150 - len(expected)        # weekends recorded, not refetched


def test_download_when_rerun_then_no_call_and_when_a_day_is_deleted_then_one_call_for_it(
    kite_venue, tmp_path
):
    out = tmp_path / "h"
    assert run_cli(_argv(kite_venue, out)) == 0
    assert kite_venue.count("GET", KITE_HISTORY) == 3
    assert run_cli(_argv(kite_venue, out)) == 0
    assert kite_venue.count("GET", KITE_HISTORY) == 3           # nothing missing: nothing asked
    store = HistoryStore(str(out), "minute")
    lost = store.day_path("SBIN", D(2024, 3, 14))
    before = pq.read_table(lost)
    shutil.rmtree(os.path.dirname(lost))
    assert run_cli(_argv(kite_venue, out)) == 0
    assert kite_venue.count("GET", KITE_HISTORY) == 4
    assert kite_venue.requests[-1][1].startswith(KITE_HISTORY)
    assert pq.read_table(lost).equals(before)


def test_download_when_kite_answers_429_then_it_backs_off_and_the_call_succeeds(
    kite_venue, tmp_path, capsys
):
    kite_venue.fail_next("429", 2, route="GET /instruments/historical")
    sleeps = Sleeps()
    assert (
        run_cli(
            _argv(kite_venue, tmp_path / "h", span=["--from", "2024-01-01", "--to", "2024-01-31"]),
            sleep=sleeps,
        )
        == 0
    )
    assert kite_venue.count("GET", KITE_HISTORY) == 3           # two refused, then the answer
    assert len(sleeps) == 2 and all(s > 0 for s in sleeps)
    assert orjson.loads(capsys.readouterr().out)["retries"] == 2
    assert len(HistoryStore(str(tmp_path / "h"), "minute").written_days("SBIN")) == 23


def test_download_when_token_refused_then_exit_3_names_the_login_command_and_never_the_token(
    kite_venue, tmp_path, capsys
):
    kite_venue.fail_next("token", 1, route="GET /instruments/historical")
    assert run_cli(_argv(kite_venue, tmp_path / "h")) == 3
    out, err = capsys.readouterr()
    assert "python -m orders.brokers.kite.login" in err and "TokenException" in err
    assert KITE_TOKEN not in out + err
    assert kite_venue.count("GET", KITE_HISTORY) == 1           # stopped: nothing more sent
    assert files_under(tmp_path / "h") == []


def test_download_when_token_expires_midway_then_written_days_are_whole_and_a_rerun_fetches_the_rest(  # noqa: E501 - the name is the test's sentence
    kite_venue, tmp_path
):
    store = HistoryStore(str(tmp_path / "h"), "minute")
    client = KiteHistory(KITE_KEY, KITE_TOKEN, root=kite_venue.url)
    job = Download(
        client,
        store,
        RateLimiter(((100, 1.0),)),
        interval="minute",
        oi=False,
        today=TODAY,
        sleep=Sleeps(),
    )
    keys = {"SBIN": "779521"}
    chunks = job.plan(keys, D(2024, 1, 1), D(2024, 5, 29))
    report = job.run(keys, chunks, on_chunk=lambda c: kite_venue.fail_next("token", 1))
    client.close()
    assert "TokenException" in report.fatal and kite_venue.count("GET", KITE_HISTORY) == 2
    written = sorted(store.written_days("SBIN"))
    assert written == trading_days(D(2024, 1, 1), D(2024, 2, 29))  # the first chunk, whole
    assert [
        f
        for f in files_under(tmp_path / "h")
        if not f.endswith(("candles.parquet", "empty_days.json"))
    ] == []
    assert all(pq.read_table(store.day_path("SBIN", d)).num_rows == 375 for d in written)
    assert run_cli(_argv(kite_venue, tmp_path / "h")) == 0
    assert kite_venue.count("GET", KITE_HISTORY) == 4                  # the two missing chunks only


def test_download_when_a_candle_is_malformed_then_it_is_counted_named_and_the_rest_is_kept(
    kite_venue, tmp_path, capsys
):
    kite_venue.history.venue.poison([["2024-01-02T09:15:30+0530", 1.0, "x", 1.0, 1.0, 5], ["bad"]])
    span = ["--from", "2024-01-01", "--to", "2024-01-07"]
    assert run_cli(_argv(kite_venue, tmp_path / "h", span=span)) == 0
    out, err = capsys.readouterr()
    summary = orjson.loads(out)
    assert summary["malformed"] == {"price": 1, "shape": 1}
    assert ["SBIN", "2024-01-02T09:15:30+0530", "price"] in summary["malformed_examples"]
    assert "2 malformed candles dropped" in err
    store = HistoryStore(str(tmp_path / "h"), "minute")
    assert sorted(store.written_days("SBIN")) == trading_days(D(2024, 1, 1), D(2024, 1, 7))
    assert store.empty_days("SBIN") == set()        # a chunk with bad rows marks no day empty


def test_download_when_one_symbol_is_refused_then_it_is_named_exit_1_and_the_others_are_downloaded(
    kite_venue, tmp_path, capsys
):
    # an InputException-like 400
    kite_venue.fail_next("margin", 1, route="GET /instruments/historical/408065")
    span = ["--from", "2024-01-01", "--to", "2024-01-05"]
    assert (
        run_cli(
            _argv(kite_venue, tmp_path / "h", symbols=("INFY=408065", "SBIN=779521"), span=span)
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "INFY failed" in err
    store = HistoryStore(str(tmp_path / "h"), "minute")
    assert store.written_days("INFY") == set() and len(store.written_days("SBIN")) == 5


def test_download_when_to_reaches_today_then_today_is_not_fetched(kite_venue, tmp_path, capsys):
    span = ["--from", (TODAY - dt.timedelta(days=3)).isoformat(), "--to", TODAY.isoformat()]
    assert run_cli(_argv(kite_venue, tmp_path / "h", span=span, interval="day")) == 0
    summary = orjson.loads(capsys.readouterr().out)
    assert summary["days_not_yet"] == 1
    store = HistoryStore(str(tmp_path / "h"), "day")
    assert TODAY not in store.done_days("SBIN") and TODAY - dt.timedelta(days=3) in store.done_days(
        "SBIN"
    )


def test_download_when_a_day_is_a_holiday_then_it_is_recorded_empty_and_never_asked_for_again(
    kite_venue, tmp_path
):
    kite_venue.history.venue.holidays.add(D(2024, 1, 26))          # Republic Day
    span = ["--from", "2024-01-26", "--to", "2024-01-26"]
    assert run_cli(_argv(kite_venue, tmp_path / "h", span=span)) == 0
    assert run_cli(_argv(kite_venue, tmp_path / "h", span=span)) == 0
    assert kite_venue.count("GET", KITE_HISTORY) == 1
    store = HistoryStore(str(tmp_path / "h"), "minute")
    assert store.empty_days("SBIN") == {D(2024, 1, 26)} and store.written_days("SBIN") == set()


def test_download_when_oi_is_asked_after_a_download_without_it_then_those_days_are_fetched_again(
    kite_venue, tmp_path
):
    span = ["--from", "2024-01-01", "--to", "2024-01-05"]
    assert run_cli(_argv(kite_venue, tmp_path / "h", span=span)) == 0
    assert run_cli(_argv(kite_venue, tmp_path / "h", "--oi", span=span)) == 0
    assert run_cli(_argv(kite_venue, tmp_path / "h", "--oi", span=span)) == 0
    assert kite_venue.count("GET", KITE_HISTORY) == 2
    table = pq.read_table(
        HistoryStore(str(tmp_path / "h"), "minute").day_path("SBIN", D(2024, 1, 2))
    )
    assert table.schema.metadata[b"otrade_oi"] == b"1" and min(table.column("oi").to_pylist()) > 0


def test_download_when_symbols_are_bare_then_their_tokens_come_from_the_instrument_dump(
    kite_venue, tmp_path
):
    dump = tmp_path / "instruments.csv"
    dump.write_text("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,"
                    "lot_size,instrument_type,segment,exchange\n"
                    "779521,3045,SBIN,STATE BANK OF INDIA,0.0,,0.0,0.05,1,EQ,NSE,NSE\n")
    span = ["--from", "2024-01-02", "--to", "2024-01-02"]
    assert (
        run_cli(
            _argv(
                kite_venue, tmp_path / "h", "--instruments", str(dump), symbols=("SBIN",), span=span
            )
        )
        == 0
    )
    assert kite_venue.requests[-1][1] == f"{KITE_HISTORY}779521/minute"
    assert HistoryStore(str(tmp_path / "h"), "minute").written_days("SBIN") == {D(2024, 1, 2)}


def test_download_when_a_bare_symbol_has_no_dump_then_exit_2_says_how_to_name_it(
    kite_venue, tmp_path, capsys
):
    assert run_cli(_argv(kite_venue, tmp_path / "h", symbols=("SBIN",))) == 2
    assert "SYMBOL=KEY" in capsys.readouterr().err
    assert kite_venue.count("GET", KITE_HISTORY) == 0
