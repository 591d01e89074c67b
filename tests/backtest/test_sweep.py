"""`python -m backtest.sweep` on a local Ray with 2 workers, over the chaos NSE case (3 sessions, 2
strategies).

One Ray session serves the whole module (it takes seconds to start); the sweep uses it and leaves it
running, and the module's teardown shuts it down and checks that no Ray process is left behind.
Figures are checked against independent computations: each cell's net P&L recomputed by hand from
the fills of a `python -m backtest` run (run_backtest, reading the file itself) with the same
parameters.
"""

import json
import os
import shutil
import tempfile

import orjson
import psutil
import pytest

from backtest.runner import run_backtest
from backtest.sweep import space
from backtest.sweep.__main__ import main
from backtest.sweep.store import CellStore
from config.cli import check_config
from config.loader import load_config
from tests.backtest.cases import nse_config
from tests.support import eventually

ray = pytest.importorskip("ray")

FAST, SLOW = "strategies.0.params.fast", "strategies.0.params.slow"
RAY_PROCESSES = (
    "raylet",
    "gcs_server",
    "plasma_store",
    "ray::",
    "default_worker",
    "log_monitor",
    "dashboard",
)


def _ray_children() -> list[str]:
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            text = " ".join([p.name(), *p.cmdline()])
        except psutil.Error:
            continue
        if any(name in text for name in RAY_PROCESSES):
            found.append(f"{p.pid} {text[:80]}")
    return found


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray's own temp dir (logs, and socket files it leaves after shutdown) in a private directory
    # that goes with the module; short, because a unix socket's path is at most 107 bytes
    temp = tempfile.mkdtemp(prefix="otrade-ray-")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
             object_store_memory=96 * 1024 * 1024, _temp_dir=temp)
    yield
    ray.shutdown()
    # raylet, gcs_server and the workers exit on shutdown; give them a moment, then none may be left
    eventually(
        lambda: _ray_children() == [],
        timeout=15.0,
        interval=0.1,
        message="no Ray process left after shutdown",
    )
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return nse_config(tmp_path_factory.mktemp("sweep"))


def _sweep(case, out, *grid, extra=()):
    args = ["--config", case, "--out", str(out), "--workers", "2", "--objective", "net_pnl", *extra]
    for g in grid:
        args += ["--grid", g]
    code = main(args)
    return code, json.load(open(os.path.join(out, "sweep.json")))


def _rows(out, name="results.csv"):
    import pyarrow.csv as pacsv

    return pacsv.read_csv(os.path.join(out, name)).to_pylist()


def _net_by_hand(case, params: dict, where, first=None, last=None) -> float:
    """Net P&L of a `python -m backtest` run of `params`: cash flows of its fills less their fees,
    every position flat at the end (the stop policy flattens)."""
    raw = orjson.loads(open(case, "rb").read())
    os.makedirs(where, exist_ok=True)
    path = os.path.join(where, "config.json")
    with open(path, "wb") as f:
        f.write(orjson.dumps(space.apply(raw, params)))
    run_dir = os.path.join(where, "run")
    run_backtest(load_config(path).config, run_dir, first, last, report=False)
    fills = [json.loads(line) for line in open(os.path.join(run_dir, "fills.jsonl"))]
    held: dict = {}
    for f in fills:
        held[f["symbol"]] = held.get(f["symbol"], 0) + f["side"] * f["qty"]
    assert not any(held.values())
    return sum(-f["side"] * f["qty"] * f["price"] - f["fees_inr"] for f in fills)


def test_sweep_when_grid_runs_on_two_workers_then_results_are_sorted_by_independently_computed_net_pnl(  # noqa: E501 - the name is the test's sentence
    case, tmp_path
):
    out = tmp_path / "out"
    code, doc = _sweep(case, out, f"{FAST}=5,10", f"{SLOW}=30,50")
    assert code == 0 and doc["cells_run"] == 4 and doc["cells_failed"] == 0
    rows = _rows(out)
    by_hand = {
        (r[FAST], r[SLOW]): _net_by_hand(
            case, {FAST: r[FAST], SLOW: r[SLOW]}, tmp_path / f"{r[FAST]}-{r[SLOW]}"
        )
        for r in rows
    }
    assert [(r[FAST], r[SLOW]) for r in rows] == sorted(by_hand, key=lambda k: -by_hand[k])
    assert all(r["objective"] == pytest.approx(by_hand[(r[FAST], r[SLOW])], abs=1e-6) for r in rows)
    assert os.path.getsize(out / "heatmap.png") > 0 and os.path.exists(out / "results.parquet")
    best = json.load(open(out / "best_config.json"))
    assert best["strategies"][0]["params"]["fast"] == rows[0][FAST]
    assert best["strategies"][0]["params"]["slow"] == rows[0][SLOW]
    assert check_config(str(out / "best_config.json"), None) == 0


def test_sweep_when_rerun_with_one_more_value_then_only_the_new_cells_run(case, tmp_path):
    out = tmp_path / "out"
    _, first = _sweep(case, out, f"{FAST}=5", f"{SLOW}=30,50")
    assert first["cells_run"] == 2
    _, again = _sweep(case, out, f"{FAST}=5,10", f"{SLOW}=30,50")
    assert (again["cells_run"], again["cells_skipped"]) == (2, 2)
    assert len(CellStore(str(out)).records) == 4 and len(_rows(out)) == 4


def test_sweep_when_cells_fail_then_each_is_reported_with_its_error_and_the_rest_run(
    case, tmp_path
):
    out = tmp_path / "out"
    # fast 40 >= slow 30: the config loader refuses it; feed.source sim: valid, but the backtest
    # refuses it inside the worker (a backtest replays a file).
    code, doc = _sweep(case, out, f"{FAST}=5,40", "feed.source=replay,sim")
    assert code == 0 and doc["cells_failed"] == 3
    rows = {(r[FAST], r["feed.source"]): r for r in _rows(out)}
    assert rows[(5, "replay")]["status"] == "ok"
    assert (
        rows[(5, "sim")]["status"] == "error"
        and "feed.source must be 'replay'" in rows[(5, "sim")]["error"]
    )
    for source in ("replay", "sim"):
        assert rows[(40, source)]["status"] == "invalid"
        assert "must be greater than fast (40)" in rows[(40, source)]["error"]
    _, again = _sweep(case, out, f"{FAST}=5,40", "feed.source=replay,sim")
    assert (again["cells_run"], again["cells_skipped"]) == (1, 3)      # the error is tried again


def test_walk_forward_when_one_day_windows_then_test_pnl_is_the_chosen_params_out_of_sample(
    case, tmp_path
):
    out = tmp_path / "out"
    code, doc = _sweep(
        case, out, f"{FAST}=5,10", f"{SLOW}=30,50", extra=["--walk-forward", "train=1d,test=1d"]
    )
    assert code == 0 and doc["folds"] == 2
    train = [r for r in _rows(out) if r["phase"] == "train"]
    folds = _rows(out, "walk_forward.csv")
    equity = 0.0
    for fold, (train_day, test_day) in zip(
        folds, [("2021-07-28", "2021-07-29"), ("2021-07-29", "2021-07-30")]
    ):
        mine = [r for r in train if r["fold"] == fold["fold"]]
        top = max(mine, key=lambda r: r["objective"])
        params = {FAST: top[FAST], SLOW: top[SLOW]}
        assert (str(fold["train_from"]), str(fold["test_from"])) == (train_day, test_day)
        assert json.loads(fold["params"]) == params
        by_hand = _net_by_hand(case, params, tmp_path / f"f{fold['fold']}", test_day, test_day)
        assert fold["test_net_pnl_inr"] == pytest.approx(by_hand, abs=1e-6)
        equity += by_hand
    assert _rows(out, "oos_equity.csv")[-1]["equity_inr"] == pytest.approx(equity, abs=1e-6)
    assert os.path.getsize(out / "walk_forward_equity.png") > 0
    assert (
        json.load(open(out / "best_config.json"))["strategies"][0]["params"]["fast"]
        == json.loads(folds[-1]["params"])[FAST]
    )


def test_optuna_when_it_proposes_invalid_pairs_then_they_are_failed_cells_with_the_loaders_reason(
    case, tmp_path
):
    out = tmp_path / "out"
    code, doc = _sweep(case, out, f"{FAST}=5,20,40,60", f"{SLOW}=30",
                       extra=["--search", "optuna", "--trials", "6", "--seed", "1"])
    rows = _rows(out)
    assert code == 0 and doc["cells_planned"] == 6
    invalid = [r for r in rows if r["status"] == "invalid"]
    assert invalid and all(
        r[FAST] >= 30 and "must be greater than fast" in r["error"] for r in invalid
    )
    assert all(r["status"] == "ok" for r in rows if r[FAST] < 30)
