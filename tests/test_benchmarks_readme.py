"""`python -m benchmarks.readme` rewrites only the README's generated blocks, from results JSON, and
`benchmarks.firstrun.measure` reads a run's figures from its own records."""

import json

import pytest

from benchmarks import readme
from benchmarks.firstrun import measure

FIRSTRUN = {
    "kind": "firstrun",
    "instruments": 24,
    "duration_s": 60.0,
    "ticks": 10474,
    "intents": 12,
    "denied": 1,
    "denied_by_reason": {"BRACKET_OPEN": 1},
    "denied_share": 1 / 12,
    "orders": 35,
    "orders_by_role": {"ENTRY": 11, "STOP": 11, "TARGET": 11, "FLATTEN": 2},
    "fills": 11,
    "realised_pnl_inr": -22.95,
    "unrealised_pnl_inr": -6.91,
    "exit_code": 0,
    "market_start_ist": "09:15:00",
    "market_last_tick_ist": "09:16:00",
    "first_intent_ist": "09:15:40",
    "started_utc": "2026-12-07T03:42:19Z",
    "command": "python supervisor.py --duration 60 --no-dashboard",
    "latency_us": {
        "signals": {"p50_us": 59.4, "p99_us": 720.9},
        "orders": {"p50_us": 1835.0, "p99_us": 9728.7},
    },
    "machine": {"cpu_model": "Test CPU", "usable_cores": 2, "python": "3.11.7"},
}
SUITE = {
    "stamp": "20261202T101500Z",
    "quick": True,
    "total_s": 95.0,
    "machine": {"cpu_model": "Test CPU"},
    "rows": [
        {
            "benchmark": "ring",
            "metric": "hop p50 / p99 / p99.9",
            "value": [3.0, 16.9, 40.0],
            "unit": "µs",
            "note": "n=100,000",
        },
        {
            "benchmark": "pipeline",
            "metric": "replay | default",
            "value": 203000.0,
            "unit": "ticks/s",
            "note": "",
        },
    ],
}
README = """# Title

Typed text that stays.
<!-- generated:firstrun:begin -->
old figures, typed by hand
<!-- generated:firstrun:end -->
More typed text.
<!-- generated:benchmarks:begin -->
| old | table |
<!-- generated:benchmarks:end -->
The end.
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "README.md").write_text(README, encoding="utf-8")
    results = tmp_path / "results"
    results.mkdir()
    (results / "firstrun-20261201T000000Z.json").write_text(
        json.dumps({**FIRSTRUN, "intents": 999})
    )
    (results / "firstrun-20261207T034219Z.json").write_text(json.dumps(FIRSTRUN))
    (results / "20261202T101500Z.json").write_text(json.dumps(SUITE))
    return tmp_path


def _main(files, *args):
    return readme.main(
        ["--readme", str(files / "README.md"), "--results", str(files / "results"), *args]
    )


def test_readme_when_results_exist_then_each_block_is_rendered_from_the_latest_json(files):
    assert _main(files) == 0
    text = (files / "README.md").read_text(encoding="utf-8")
    # the paragraph is wrapped at the README's width
    words = " ".join(text.split())
    # the newest firstrun file
    assert "**12 intents, 1 denied (8.3 %)** (BRACKET_OPEN 1)" in words
    assert "10,474 ticks (about 175/s over the 24 names)" in words
    assert "35 orders (11 entries, 11 stops, 11 targets, 2 closes at the stop)" in words
    block = text.split("<!-- generated:firstrun:begin -->\n")[1].split(
        "<!-- generated:firstrun:end -->"
    )[0]
    assert max(len(line) for line in block.splitlines()) <= readme.WIDTH
    assert "| `ring` | hop p50 / p99 / p99.9 | 3.00 / 16.9 / 40.0 µs | n=100,000 |" in text
    # a pipe cannot break the row
    assert "replay \\| default" in text
    assert "old figures" not in text and "| old | table |" not in text
    for kept in ("# Title\n\nTyped text that stays.\n", "More typed text.\n", "The end.\n"):
        assert kept in text


def test_readme_when_run_twice_then_the_second_run_changes_nothing(files):
    assert _main(files) == 0
    first = (files / "README.md").read_text(encoding="utf-8")
    assert readme.regenerate(str(files / "README.md"), {
        "firstrun": readme.latest_results("firstrun", str(files / "results")),
        "benchmarks": readme.latest_results("benchmarks", str(files / "results"))}) is False
    assert (files / "README.md").read_text(encoding="utf-8") == first


def test_readme_when_a_results_file_is_missing_then_exit_2_names_the_command_and_leaves_the_readme(
        files, capsys):
    (files / "results" / "20261202T101500Z.json").unlink()
    assert _main(files) == 2
    assert "run `python -m benchmarks --quick` first" in capsys.readouterr().err
    # firstrun not written either
    assert (files / "README.md").read_text(encoding="utf-8") == README


def test_readme_when_only_one_block_is_asked_for_then_the_other_needs_no_results(files):
    (files / "results" / "20261202T101500Z.json").unlink()
    assert _main(files, "--only", "firstrun") == 0
    text = (files / "README.md").read_text(encoding="utf-8")
    assert "**12 intents" in " ".join(text.split()) and "| old | table |" in text


def test_readme_when_a_marker_is_missing_then_exit_2(files, capsys):
    (files / "README.md").write_text(README.replace("<!-- generated:benchmarks:end -->\n", ""))
    assert _main(files) == 2
    assert "<!-- generated:benchmarks:end -->" in capsys.readouterr().err


def test_readme_when_a_results_file_lacks_a_figure_then_exit_2(files, capsys):
    broken = {k: v for k, v in FIRSTRUN.items() if k != "ticks"}
    (files / "results" / "firstrun-20261208T000000Z.json").write_text(json.dumps(broken))
    assert _main(files) == 2
    assert "lack a figure" in capsys.readouterr().err


def _line(**fields):
    return json.dumps(fields) + "\n"


def test_firstrun_measure_counts_intents_denials_by_reason_and_orders_by_role(tmp_path):
    (tmp_path / "summary.json").write_text(
        json.dumps(
            {
                "reason": "duration reached",
                "pnl": {"realised_pnl_inr": -1.234, "unrealised_pnl_inr": 0.5},
                "stages": {
                    "feed": {"counters": {"ticks": 500}},
                    "signals": {"latency_us": {"p50_us": 10.0}},
                },
                "left_at_broker": {"working_orders": {}, "positions": {}},
            }
        )
    )
    (tmp_path / "config.effective.json").write_text(json.dumps(
        {"feed": {"sim": {"start_time": "09:15"}}, "instruments": [{}, {}, {}]}))
    ts = 1796615140_000_000_000        # 2026-12-07 09:15:40 IST
    (tmp_path / "orders.jsonl").write_text(
        _line(type="TicksProcessed", ts_event_ns=ts) + _line(type="SignalRaised", ts_event_ns=ts)
        + _line(type="OrderSubmitting", role="ENTRY") + _line(type="OrderSubmitting", role="STOP")
        + _line(type="SignalRaised", ts_event_ns=ts + 20_000_000_000)
        + _line(type="OrderDenied", reason="BRACKET_OPEN: this strategy already has ...")
        + _line(type="OrderFilled") + _line(type="TicksProcessed", ts_event_ns=ts + 20_000_000_000)
        + "{torn line\n")
    got = measure(str(tmp_path))
    assert (got["ticks"], got["instruments"], got["intents"], got["denied"]) == (500, 3, 2, 1)
    assert got["denied_by_reason"] == {"BRACKET_OPEN": 1} and got["denied_share"] == 0.5
    assert got["orders_by_role"] == {"ENTRY": 1, "STOP": 1} and got["fills"] == 1
    assert (got["market_start_ist"], got["first_intent_ist"], got["market_last_tick_ist"]) == \
        ("09:15:00", "09:15:40", "09:16:00")
    assert got["realised_pnl_inr"] == -1.23 and got["unreadable_journal_lines"] == 1
    assert got["left_at_broker"] is False
