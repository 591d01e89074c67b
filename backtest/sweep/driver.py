"""A whole sweep, start to finish, as a function: what `python -m backtest.sweep` runs.

    summary = run_sweep(Options(config="base.json", axes=parse_axes([...]), out_dir="sweeps/s1"))

1. Load and validate the base config (it must be backtestable: replay feed, paper broker), read the
   replay file once (backtest/sweep/data.py) and list its sessions.
2. Plan the cells: the grid, a random draw from it, or Optuna's proposals; on the whole file, or per
   walk-forward fold on its train window. Each is validated and keyed (backtest/sweep/cell.py).
3. Run them on Ray (backtest/sweep/pool.py), skipping cells the output directory already holds,
   writing each to cells.csv as it finishes (backtest/sweep/store.py).
4. Walk-forward: the best train cell of each fold is run on the fold's test window.
5. Write results.csv/.parquet, heatmap.png (2-D), the walk-forward tables and equity,
   best_config.json and sweep.json (counts, timings, cells/s, the best cell).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import orjson

from common.atomicfile import write_atomic
from common.errors import ConfigError
from config.loader import load_config

from backtest.runner import check_backtestable
from backtest.sweep import plots, space, tables, walkforward
from backtest.sweep.cell import plan_cell
from backtest.sweep.data import TickData
from backtest.sweep.pool import MIN_STORE_BYTES, RayPool
from backtest.sweep.search import Runner, progress_bar
from backtest.sweep.store import CellStore


@dataclass
class Options:
    config: str
    axes: dict
    out_dir: str
    search: str = "grid"              # grid | random | optuna
    trials: int = 0                   # random / optuna: cells per window
    seed: int = 0
    walk_forward: tuple | None = None  # (train sessions, test sessions)
    objective: str = "sharpe"
    address: str | None = None         # None: a private local Ray
    workers: int = 2
    progress: bool = False


def _search(
    runner: Runner, opts: Options, plan, windows: list[tuple[dict, tuple]]
) -> list[tuple[dict, dict]]:
    """Run the search on each (tags, window); [(tags, record)] in planning order."""
    if opts.search == "optuna":
        out = []
        for tags, window in windows:
            recs = runner.run_optuna(
                opts.axes, opts.trials, window, opts.objective, opts.seed, **tags
            )
            out += [(tags, r) for r in recs]
        return out
    combos = (space.grid_cells(opts.axes) if opts.search == "grid"
              else space.random_cells(opts.axes, opts.trials, opts.seed))
    planned = [
        (tags, plan(params, window, **tags)) for tags, window in windows for params in combos
    ]
    recs = runner.run_cells([cell for _, cell in planned])
    return [(tags, rec) for (tags, _), rec in zip(planned, recs)]


def _cells_per_window(opts: Options) -> int:
    if opts.search == "grid":
        return len(space.grid_cells(opts.axes))
    return (
        min(opts.trials, len(space.grid_cells(opts.axes)))
        if opts.search == "random"
        else opts.trials
    )


def check_objective(opts: Options, n_sessions: int) -> None:
    """Sharpe and Calmar are daily ratios: undefined on one session (reports/statistics.py). A sweep
    whose every cell would have no objective is refused before it runs, naming the option."""
    if opts.objective not in ("sharpe", "calmar"):
        return
    window = opts.walk_forward[0] if opts.walk_forward else n_sessions
    if window < 2:
        where = "each train window holds" if opts.walk_forward else "the data holds"
        raise ConfigError(
            f"{opts.objective} is a daily ratio and needs 2 sessions or more; {where} {window}: "
            f"use --objective net_pnl or more sessions",
            path="--objective",
        )


def run_sweep(opts: Options) -> dict:
    """Run the sweep into opts.out_dir; sweep.json's document. ConfigError before anything runs."""
    started = time.perf_counter()
    base = load_config(opts.config).config
    check_backtestable(base, None, None)
    with open(opts.config, "rb") as f:
        raw = orjson.loads(f.read())
    data = TickData.load(base)
    sessions = data.sessions()
    check_objective(opts, len(sessions))
    folds = walkforward.split(sessions, opts.walk_forward) if opts.walk_forward else None
    store = CellStore(opts.out_dir)

    def plan(params, window, **tags):
        return plan_cell(opts.config, raw, params, window, data.sha256, **tags)

    windows = ([({"phase": "search"}, (None, None))] if folds is None
               else [({"phase": "train", "fold": f.index}, f.train) for f in folds])
    total = _cells_per_window(opts) * len(windows) + (len(folds) if folds else 0)
    loaded = time.perf_counter()
    # the store holds the ticks once, plus what is in flight; twice the ticks leaves room for both
    with RayPool(
        opts.workers, opts.address, store_bytes=2 * data.ticks.nbytes + MIN_STORE_BYTES
    ) as pool:
        pool.share(data)
        with progress_bar(total, enabled=opts.progress) as advance:
            runner = Runner(pool, store, plan, advance)
            planned = _search(runner, opts, plan, windows)
            chosen, tests = [], []
            if folds is not None:
                chosen = [
                    tables.best([r for t, r in planned if t.get("fold") == f.index], opts.objective)
                    for f in folds
                ]
                test_cells = [
                    (f, plan(c["params"], f.test, phase="test", fold=f.index))
                    for f, c in zip(folds, chosen)
                    if c is not None
                ]
                recs = runner.run_cells([cell for _, cell in test_cells])
                by_fold = {f.index: rec for (f, _), rec in zip(test_cells, recs)}
                tests = [by_fold.get(f.index) for f in folds]
                planned += [
                    ({"phase": "test", "fold": f.index}, by_fold[f.index]) for f, _ in test_cells
                ]
        # the cells' time, Ray's start and warm-up apart
        ran_s = time.perf_counter() - loaded - pool.start_s
    return _write_outputs(opts, planned, folds, chosen, tests, runner, {
        "load_s": loaded - started, "ray_start_warm_s": pool.start_s, "cells_s": ran_s})


def _write_outputs(
    opts: Options, planned, folds, chosen, tests, runner: Runner, timings: dict
) -> dict:
    rows = tables.result_rows(planned, opts.axes, opts.objective)
    tables.write_table(opts.out_dir, "results", rows)
    heatmap = plots.heatmap(opts.out_dir, opts.axes, rows, opts.objective)
    equity_png = None
    if folds is not None:
        wf_rows, daily = tables.walk_forward_rows(folds, chosen, tests, opts.objective)
        tables.write_table(opts.out_dir, "walk_forward", wf_rows)
        tables.write_table(opts.out_dir, "oos_equity", daily)
        equity_png = plots.oos_equity(opts.out_dir, daily)
        top = next((c for c in reversed(chosen) if c is not None), None)
    else:
        top = tables.best([r for _, r in planned], opts.objective)
    best_path = tables.write_best_config(opts.out_dir, opts.config, top["params"]) if top else None
    doc = {
        "objective": opts.objective,
        "search": opts.search,
        "workers": opts.workers,
        "cells_planned": len(planned),
        "cells_run": runner.ran,
        "cells_skipped": runner.skipped,
        "cells_failed": runner.failed,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "cells_per_s": round(runner.ran / timings["cells_s"], 3)
        if runner.ran and timings["cells_s"] > 0
        else None,
        "best": {
            "params": top["params"],
            "objective": tables.objective_of(top, opts.objective),
            "key": top["key"],
        }
        if top
        else None,
        "best_config": best_path,
        "heatmap": heatmap,
        "walk_forward_equity": equity_png,
        "folds": len(folds) if folds else 0,
    }
    write_atomic(
        os.path.join(opts.out_dir, "sweep.json"),
        orjson.dumps(doc, option=orjson.OPT_INDENT_2),
        durable=False,
    )
    return doc
