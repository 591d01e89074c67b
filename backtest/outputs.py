"""What a backtest leaves in its run directory, in the files and shapes a pipeline run leaves.

The journals (signals.jsonl, orders.jsonl, fills.jsonl, paper_broker.jsonl) are written as the run
goes (backtest/engine.py). At the end: positions.json (positions/stage.py's document),
orders.summary.json and signals.summary.json (the stages' own end-of-run files, less their latency
histograms), config.effective.json, summary.json (supervision/summary.py's document, with
the figures that make sense in one process), then the report through reports.report's
`render_after_run`, the supervisor's own end-of-run hook.

Not written, because there is nothing they would describe: supervisor.jsonl (no process was
spawned or restarted), run.json, the stage latency histograms (no tick crosses a process; the
backtest's own speed is `speed` in summary.json), logs/.
"""

from __future__ import annotations

import os

import orjson

from common import rundir
from common.atomicfile import write_atomic
from common.journalcounts import durable_counters
from supervision.summary import COUNTERS_NOTE
from config.loader import effective_json

REASON = "backtest finished: end of the replay"


def _write(run_dir: str, name: str, doc: dict) -> None:
    write_atomic(
        os.path.join(run_dir, name), orjson.dumps(doc, option=orjson.OPT_INDENT_2), durable=False
    )


def write_config(run_dir: str, config) -> None:
    """config.effective.json: what ran (the report reads the instrument symbols from it)."""
    with open(os.path.join(run_dir, rundir.CONFIG_EFFECTIVE), "wb") as f:
        f.write(effective_json(config))


def write_results(
    bt, run_dir: str, run_id: str, window: dict, elapsed_s: float, exit_code: int
) -> dict:
    """Every end-of-run file but the report; returns summary.json's document."""
    positions = bt.positions_doc()
    _write(run_dir, rundir.POSITIONS, positions)
    _write(
        run_dir,
        rundir.stage_summary("orders"),
        {
            "engine": dict(bt.engine.stats),
            "trading_state": bt.engine.trading_state,
            "stop": bt.stop,
        },
    )
    _write(run_dir, rundir.stage_summary("signals"), {"strategies": bt.signals.stats()})
    durable, sources, unreadable = durable_counters(run_dir)
    feed = {
        "ticks": bt.ticks,
        "rows_read": bt.tape.total_rows,
        "outside_window": bt.tape.outside_window,
        **bt.tape.drops(),
    }
    stages = {
        "feed": {"counters": feed, "counted_from": dict.fromkeys(feed, "process")},
        "signals": _stage(
            durable, sources, "signals", {"ticks": bt.ticks}, strategies=bt.signals.stats()
        ),
        "orders": _stage(
            durable, sources, "orders", {"ticks": bt.ticks}, engine=dict(bt.engine.stats)
        ),
        "positions": _stage(durable, sources, "positions", {}),
    }
    doc = {
        "run_id": run_id,
        "mode": "backtest",
        "exit_code": exit_code,
        "reason": REASON,
        "window": window,
        "stop": bt.stop,
        "left_at_broker": bt.stop.get("left_at_broker"),
        "trading_state": bt.engine.trading_state,
        "trading_state_reason": bt.state_reason,
        "reconcile": bt.last_reconcile,
        "stages": stages,
        "counters_note": COUNTERS_NOTE,
        "unreadable_journal_lines": unreadable,
        "pnl": {
            k: positions.get(k)
            for k in ("realised_pnl_inr", "unrealised_pnl_inr", "gross_exposure_inr")
        },
        "fills": positions.get("fills_applied"),
        "speed": {
            "elapsed_s": round(elapsed_s, 3),
            "ticks_per_s": round(bt.ticks / elapsed_s) if elapsed_s > 0 else None,
        },
    }
    _write(run_dir, rundir.SUMMARY, doc)
    return doc


def _stage(durable: dict, sources: dict, name: str, process: dict, **extra) -> dict:
    counters = {**process, **durable.get(name, {})}
    return {"restarts": 0, "counters": counters,
            "counted_from": {k: sources.get(name, {}).get(k, "process") for k in counters}, **extra}


def write_report(run_dir: str) -> str | None:
    """report.html and its charts, exactly as the supervisor renders them at the end of a run."""
    from reports.report import render_after_run

    return render_after_run(run_dir)
