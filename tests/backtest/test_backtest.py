"""`python -m backtest` in this process: what it writes, the order it delivers intents in, its
refusals."""

import json
import os
import subprocess
import sys

import pytest

from backtest.__main__ import main
from tests.backtest.cases import nse_config, tiny_config, write_config
from tests.chaos.journals import JOURNALS, journals
from tests.chaos.replay_case import outcome

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_FILES = (
    "signals.jsonl",
    "orders.jsonl",
    "fills.jsonl",
    "paper_broker.jsonl",
    "positions.json",
    "summary.json",
    "orders.summary.json",
    "signals.summary.json",
    "config.effective.json",
    "report.html",
)


def _lines(run_dir: str, name: str) -> list[dict]:
    with open(os.path.join(run_dir, name)) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def nse_run(tmp_path_factory):
    """One backtest of the whole NSE case (3 sessions, 2 strategies)."""
    where = tmp_path_factory.mktemp("nse")
    run_dir = str(where / "run")
    assert main(["--config", nse_config(where), "--run-dir", run_dir]) == 0
    return run_dir


def test_backtest_when_run_then_it_writes_a_pipeline_runs_files(nse_run, capsys):
    assert all(os.path.exists(os.path.join(nse_run, name)) for name in RUN_FILES)
    summary = json.load(open(os.path.join(nse_run, "summary.json")))
    positions = json.load(open(os.path.join(nse_run, "positions.json")))
    assert summary["mode"] == "backtest" and summary["exit_code"] == 0
    assert summary["pnl"]["realised_pnl_inr"] == positions["realised_pnl_inr"]
    assert summary["stages"]["orders"]["counters"]["fills"] == positions["fills_applied"] == len(
        _lines(nse_run, "fills.jsonl"))
    assert summary["stages"]["feed"]["counters"]["ticks"] == 13_600
    assert positions["last_orders_seq"] == _lines(nse_run, "orders.jsonl")[-1]["seq"]


def test_backtest_when_intents_are_raised_then_each_is_decided_on_its_own_tick(nse_run):
    # The pipeline's watermark: a tick is applied only after every intent raised on it has arrived,
    # so orders decides (approves or denies) each intent while settling that very tick. Delivering a
    # batch's intents after its ticks would decide them one tick or more later (or expire them).
    raised = {r["intent_id"]: r["tick_seq"] for r in _lines(nse_run, "signals.jsonl")}
    settled, decided = 0, {}
    for r in _lines(nse_run, "orders.jsonl"):
        if r["type"] == "TicksProcessed":
            settled = r["upto_seq"] - 1
        elif r["type"] in ("SignalRaised", "OrderDenied") and r["intent_id"] not in decided:
            decided[r["intent_id"]] = settled
    assert decided.keys() == raised.keys()
    late = {i: (raised[i], t) for i, t in decided.items() if t != raised[i]}
    assert late == {}


def test_backtest_when_stdout_is_not_a_terminal_then_no_progress_bar_is_drawn(tmp_path, capsys):
    rows = [(1_627_443_900 * 10**9 + k * 10**9, "AAA", 100.0 + 0.05 * (k % 7)) for k in range(50)]
    assert main(["--config", tiny_config(tmp_path, rows), "--run-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr()
    assert out.out == ""
    assert "50 ticks" in out.err


def test_backtest_when_a_window_is_given_then_journals_equal_a_backtest_of_the_file_cut_to_it(
    tmp_path,
):
    days = ("2021-07-29", "2021-07-30")
    windowed, cut = str(tmp_path / "windowed"), str(tmp_path / "cut")
    full_file = nse_config(tmp_path, name="full.json")
    cut_file = nse_config(tmp_path, days=days, name="cut.json")
    assert (
        main(["--config", full_file, "--from", days[0], "--to", days[1], "--run-dir", windowed])
        == 0
    )
    assert main(["--config", cut_file, "--run-dir", cut]) == 0
    assert journals(windowed) == journals(cut)
    assert outcome(windowed) == outcome(cut)
    first_fill = _lines(windowed, "fills.jsonl")[0]["ts_event_ns"]
    assert first_fill >= 1_627_497_000 * 10**9      # 2021-07-29 00:00 IST: nothing of the 28th


@pytest.mark.parametrize(
    "overrides, args, named",
    [
        ({"feed": {"source": "sim"}}, [], "feed.source"),
        (
            {"feed": {"source": "replay", "replay": {"path": "/nonexistent/ticks.csv"}}},
            [],
            "/nonexistent/ticks.csv",
        ),
        (None, ["--from", "2021-07-30", "--to", "2021-07-28"], "--from"),
        (None, ["--to", "30/07/2021"], "--to"),
    ],
)
def test_backtest_when_config_cannot_be_backtested_then_exit_2_naming_the_field(
    tmp_path, capsys, overrides, args, named
):
    config = (
        write_config(tmp_path, overrides)
        if overrides
        else tiny_config(tmp_path, [(10**18, "AAA", 100.0)])
    )
    code = main(["--config", config, "--run-dir", str(tmp_path / "run"), *args])
    assert code == 2
    assert named in capsys.readouterr().err


def test_backtest_when_the_run_dir_holds_a_run_then_exit_2_and_its_journals_are_untouched(
    nse_run, tmp_path, capsys
):
    before = journals(nse_run)
    assert (
        main(
            [
                "--config",
                os.path.join(os.path.dirname(nse_run), "config.json"),
                "--run-dir",
                nse_run,
            ]
        )
        == 2
    )
    assert "--run-dir" in capsys.readouterr().err
    assert journals(nse_run) == before


def test_backtest_when_run_then_no_process_socket_or_bus_is_used(tmp_path):
    rows = [(1_627_443_900 * 10**9 + k * 10**9, "AAA", 100.0) for k in range(10)]
    config = tiny_config(tmp_path, rows)
    probe = (
        "import sys, psutil; from backtest.__main__ import main; "
        f"code = main(['--config', {config!r}, '--run-dir', {str(tmp_path / 'run')!r}]); "
        "used = sorted(m for m in ('zmq', 'common.bus', 'common.ringbuffer') if m in sys.modules); "
        "print(code, used, len(psutil.Process().children(recursive=True)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "0 [] 0", done.stderr[-2000:]


def test_backtest_journals_are_the_four_a_pipeline_writes():
    from backtest.engine import JOURNALS as WRITTEN

    assert tuple(WRITTEN) == tuple(JOURNALS)


def test_backtest_when_the_replay_ends_with_a_position_open_then_the_stop_policy_acts_as_at_a_pipeline_stop(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    # orders/onstop.py at the end of the replay, as the orders stage runs it: flatten (cancel the
    # legs, a MARKET close), which the paper broker cannot fill without a further tick: left open,
    # and said so.
    t0 = 1_627_446_600 * 10**9            # 2021-07-28 10:00 IST
    prices = [100.0] * 8 + [99.8, 99.6, 99.9, 100.2, 100.3, 100.35, 100.4, 100.3, 100.35, 100.4]
    strategy = {"name": "m", "kind": "ma_crossover", "instruments": ["AAA"],
                "params": {"fast": 2, "slow": 4, "order_type": "MARKET"}}
    config = tiny_config(
        tmp_path, [(t0 + k * 10**9, "AAA", p) for k, p in enumerate(prices)], strategies=[strategy]
    )
    run_dir = str(tmp_path / "run")
    assert main(["--config", config, "--run-dir", run_dir]) == 0
    orders = _lines(run_dir, "orders.jsonl")
    assert [r["reason"] for r in orders if r["type"] == "FlattenAll"] == [
        "stop: run.on_stop=flatten"
    ]
    assert [r["role"] for r in orders if r["type"] == "OrderSubmitting"][-1] == "FLATTEN"
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["stop"]["acted"] == "flattened"
    assert summary["left_at_broker"]["positions"] == {"AAA": 1}
    positions = json.load(open(os.path.join(run_dir, "positions.json")))
    assert (
        positions["positions"][0]["qty"] == 1 and positions["positions"][0]["last_price"] == 100.4
    )


def test_run_backtest_when_report_is_off_then_no_report_is_drawn_and_the_summary_is_returned(
    tmp_path,
):
    from backtest.runner import run_backtest
    from config.loader import load_config

    rows = [(1_627_443_900 * 10**9 + k * 10**9, "AAA", 100.0) for k in range(20)]
    config = load_config(tiny_config(tmp_path, rows)).config
    summary = run_backtest(config, str(tmp_path / "run"), report=False)
    assert summary["stages"]["feed"]["counters"]["ticks"] == 20 and summary["run_dir"] == str(
        tmp_path / "run"
    )
    assert os.path.exists(tmp_path / "run" / "summary.json") and not os.path.exists(
        tmp_path / "run" / "report.html"
    )
