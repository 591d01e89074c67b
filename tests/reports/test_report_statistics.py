"""The statistics in a rendered run: summary.json's `statistics` block and report.html's section,
from the run directory's own files and config, the same path the supervisor's end-of-run hook
takes."""

import json
import os

import pytest

from common.messages import TicksProcessed
from config.loader import ConfigError, load_config
from reports import report
from tests.reports.test_report import (
    INSTRUMENTS,
    _positions_doc,
    _summary_doc,
    _write_json,
    _write_lines,
)
from tests.reports.test_statistics import FILLS, at

CONFIG = {
    "instruments": INSTRUMENTS,
    "feed": {"source": "sim"},
    "positions": {
        "report": {"capital_inr": 10_000.0, "risk_free_rate_pct": 0.0, "benchmark_symbol": ""}
    },
}


def _run_dir(tmp_path, summary=True, config=CONFIG):
    # one TicksProcessed at each session's open and close: the market time the run recorded
    marks = [TicksProcessed(seq=100 + i, ts_event_ns=at(day, hhmm), upto_seq=i, intents_sent=0)
             for i, (day, hhmm) in enumerate((d, h) for d in range(3) for h in ("09:15", "15:30"))]
    _write_lines(tmp_path / "orders.jsonl", sorted([*marks, *FILLS], key=lambda m: m.ts_event_ns))
    positions = _positions_doc()
    positions["positions"][0]["last_price"] = 106.0          # SBIN's final mark (s3 is open)
    positions["positions"][1]["last_price"] = 205.0          # INFY's, as the square-off left it
    _write_json(tmp_path / "positions.json", positions)
    _write_json(tmp_path / "config.effective.json", config)
    if summary:
        _write_json(tmp_path / "summary.json", _summary_doc())
    return str(tmp_path)


def test_a_rendered_run_when_it_left_a_summary_then_summary_json_gains_the_statistics_block(
    tmp_path,
):
    run_dir = _run_dir(tmp_path)
    page = open(report.write_report(run_dir), encoding="utf-8").read()
    doc = json.load(open(os.path.join(run_dir, "summary.json")))
    assert doc["run_id"] == "test-run-1"                        # the supervisor's figures are kept
    stats = doc["statistics"]
    assert stats["capital_inr"] == 10_000.0 and stats["sessions"] == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
    ]
    assert stats["total"]["net_pnl_inr"] == pytest.approx(56.2) and set(stats["strategies"]) == {
        "fast",
        "slow",
    }
    assert stats["benchmark"]["symbol"] == "SBIN" and stats["benchmark"][
        "return_pct"
    ] == pytest.approx(6.0)
    assert stats["total"]["exposure_time_pct"] == pytest.approx(650 / 1125 * 100)
    assert "<h2>Statistics</h2>" in page and "risk-free rate 0% a year" in page
    assert "<th>fast</th><th>slow</th>" in page and "<td>2026-01-03</td>" in page
    assert (
        'src="report_benchmark.png"' in page
        and os.path.getsize(os.path.join(run_dir, "report_benchmark.png")) > 0
    )


def test_a_rendered_run_when_it_left_no_summary_then_none_is_made_and_the_page_still_has_statistics(
    tmp_path,
):
    run_dir = _run_dir(tmp_path, summary=False)
    page = open(report.write_report(run_dir), encoding="utf-8").read()
    assert (
        not os.path.exists(os.path.join(run_dir, "summary.json")) and "<h2>Statistics</h2>" in page
    )


def test_a_benchmark_symbol_when_configured_then_that_instrument_is_bought_and_held(tmp_path):
    config = {
        **CONFIG,
        "positions": {"report": {"capital_inr": 10_000.0, "benchmark_symbol": "INFY"}},
    }
    report.write_report(_run_dir(tmp_path, config=config))
    bench = json.load(open(tmp_path / "summary.json"))["statistics"]["benchmark"]
    assert (
        bench["symbol"] == "INFY" and bench["start_price"] == 200.0 and bench["end_price"] == 205.0
    )


def test_report_settings_when_the_run_config_is_invalid_then_defaults_are_used_and_said(tmp_path):
    config = {**CONFIG, "positions": {"report": {"capital_inr": -5}}}
    page = open(report.write_report(_run_dir(tmp_path, config=config)), encoding="utf-8").read()
    stats = json.load(open(tmp_path / "summary.json"))["statistics"]
    assert (
        stats["capital_inr"] == 1_000_000.0
        and "defaults used" in stats["note"]
        and "defaults used" in page
    )


def test_config_when_the_benchmark_is_not_an_instrument_then_the_field_is_named():
    settings = {"positions": {"report": {"benchmark_symbol": "NOSUCH"}}}
    with pytest.raises(ConfigError, match="positions.report.benchmark_symbol"):
        load_config(environ={}, dotenv_path=None, overrides=settings)
    capital = {"positions": {"report": {"capital_inr": 0}}}
    with pytest.raises(ConfigError, match="positions.report.capital_inr"):
        load_config(environ={}, dotenv_path=None, overrides=capital)
    assert (
        load_config(environ={}, dotenv_path=None).config.positions.report.capital_inr == 1_000_000.0
    )
