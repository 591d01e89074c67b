"""One cell of a sweep: a parameter set on a session window, run as an in-process backtest.

    cell = plan_cell(base_path, raw, params, window, data_sha)     # driver: validate, key
    record = run_cell(cell.config, ticks, source_drops, *window)   # worker (a Ray task)

`plan_cell` validates the cell's configuration with the loader every run uses (config/loader.py), so
an invalid combination (fast >= slow) is a cell with status "invalid" and the loader's message,
never sent to a worker. The key is sha256 of what decides the result: the validated configuration
(every default filled in; `run` — run directory, id, log level — left out, and the replay file's
name left out because the data's own hash is in), the window, and the ticks' sha256.

`run_cell` runs backtest/engine.py's Backtest over ArrayTape (ticks from the object store) in a
private temporary run directory, computes the report's portfolio statistics from it, and removes it.
It never raises: any failure is the cell's result (status "error" and the exception), so one bad
cell cannot stop a sweep. The statistics mark open positions at fill prices and the final last price
(the report's rule when no tick file is at hand) on every host alike: a cell's figures do not depend
on whether the worker can see the replay file. For intraday strategies, flat at each session's end,
net P&L, daily P&L, Sharpe, Sortino and Calmar are the same as a `python -m backtest` report's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field

import msgspec
import orjson

from common.errors import ConfigError
from config.loader import load_config

from backtest.sweep import space

FIGURES = (
    "net_pnl_inr",
    "gross_pnl_inr",
    "fees_and_taxes_inr",
    "return_on_capital_pct",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown_inr",
    "max_drawdown_pct",
    "win_rate_pct",
    "profit_factor",
    "trades_closed",
    "fills",
    "sessions",
)
OBJECTIVES = {"sharpe": "sharpe", "calmar": "calmar", "net_pnl": "net_pnl_inr"}
# the cells' feed.replay.path: not a file on any host
NO_FILE = "(ticks from the sweep's object store)"


@dataclass
class Cell:
    params: dict
    window: tuple            # (first IST day, last IST day), YYYY-MM-DD or None = open
    key: str
    config: object = None    # the validated config.schema.Config; None when invalid
    error: str = ""          # why it is invalid
    # phase and fold: how the sweep uses it, not in the key
    tags: dict = field(default_factory=dict)


def _digest(doc: dict) -> str:
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


def plan_cell(
    base_path: str, raw: dict, params: dict, window: tuple, data_sha: str, **tags
) -> Cell:
    """The cell of `params` on `window`: validated and keyed (see the module docstring)."""
    applied = space.apply(raw, params)
    overrides = {top: applied[top] for top in {path.split(".", 1)[0] for path in params}}
    try:
        config = load_config(base_path, overrides=overrides).config
    except ConfigError as e:
        key = _digest({"raw": applied, "window": list(window), "data": data_sha})
        return Cell(params, window, key, None, str(e), tags)
    # the format kept explicit: NO_FILE has no extension to tell it by
    replay = config.feed.replay
    replay = msgspec.structs.replace(replay, path=NO_FILE, format=replay.resolved_format())
    feed = msgspec.structs.replace(config.feed, replay=replay)
    config = msgspec.structs.replace(config, feed=feed)
    relevant = msgspec.to_builtins(config)
    relevant.pop("run", None)
    for name in ("path", "format"):
        relevant["feed"]["replay"].pop(name, None)
    return Cell(
        params,
        window,
        _digest({"config": relevant, "window": list(window), "data": data_sha}),
        config,
        "",
        tags,
    )


def _statistics_of(run_dir: str) -> dict:
    """The report's statistics block of a run directory (reports/statistics.py's definitions)."""
    from reports.inputs import read_run
    from reports.statistics_section import statistics_of

    block, _, _ = statistics_of(read_run(run_dir))
    return block


def run_cell(config, ticks, source_drops: dict, first: str | None, last: str | None) -> dict:
    """Backtest `config` over `ticks` on the window; the cell's record (never raises)."""
    from backtest.engine import Backtest
    from backtest.outputs import write_config, write_results
    from backtest.runner import check_backtestable, fresh_run_dir
    from backtest.sweep.data import ArrayTape
    from common.instruments import instrument_rows

    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="otrade-cell-")
    try:
        first_day, last_day = check_backtestable(config, first, last)
        run_dir = fresh_run_dir(os.path.join(tmp, "run"), config)
        config = msgspec.structs.replace(
            config, run=msgspec.structs.replace(config.run, run_dir=run_dir)
        )
        tape = ArrayTape(config, ticks, source_drops, first_day, last_day)
        bt = Backtest(
            config,
            run_dir,
            instrument_rows(config),
            first_day=first_day,
            last_day=last_day,
            tape=tape,
        )
        write_config(run_dir, config)
        try:
            bt.run(lambda n: None)
            write_results(
                bt,
                run_dir,
                "sweep-cell",
                {"from": first, "to": last},
                time.perf_counter() - started,
                0,
            )
        finally:
            bt.close()
        block = _statistics_of(run_dir)
        total = block["total"]
        return {
            "status": "ok",
            "error": "",
            "ticks": bt.ticks,
            "elapsed_s": time.perf_counter() - started,
            **{k: total.get(k) for k in FIGURES},
            "undefined": total.get("undefined", {}),
            "daily": [[row["date"], row["net_pnl_inr"]] for row in block["daily"]],
        }
    except Exception as e:      # noqa: BLE001 — a cell's failure is its result; the sweep goes on
        where = traceback.extract_tb(e.__traceback__)[-1]
        return {
            "status": "error",
            "error": f"{type(e).__name__}: {e} (at {os.path.basename(where.filename)}:"
            f"{where.lineno})",
            "elapsed_s": time.perf_counter() - started,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
