"""Peer: OTrade's in-process backtest (backtest/, `python -m backtest`) over the same session file.

The honest counterpart of NautilusTrader's BacktestEngine: one process, the session's ticks through
the same signal kernels, order engine, risk gate, brackets, paper broker, fees and position book as
the pipeline, every event journaled. Same strategy as every peer (the crossover params given
explicitly) and the same lifted risk limits as the `otrade` peer, so each intent is an order and
each order a bracket (entry, then stop and target legs).

Two runs, in a child process of their own (spawn, as nautilus.py does, so the benchmark process does
not keep a million-tick backtest's memory), after a warm-up backtest of the live prefix (numba's
cached kernels loaded, as Nautilus' figure leaves its loading apart):
- crossover: the peers' EMA crossover;
- quiet: benchmarks.pipeline.QUIET_STRATEGIES, the same crossover with windows no instrument fills,
  which never raises an intent: the per-tick ceiling (tape, sanity filter, signal kernels, the order
  engine's tick loop, marks). Target ≥ 2,000,000 ticks/s (reported, not asserted).

Throughput is summary.json's `speed`: ticks ÷ (the engines' run + the end-of-run files: positions,
stage summaries, journal counts); reading the file is before it, the report (not rendered) after.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

from benchmarks.peers.processpipeline import context
from benchmarks.peers.result import make_entry

TIMEOUT_S = 1800.0
QUIET_TARGET_TICKS_PER_S = 2_000_000


def _one(workdir: str, name: str, config: dict) -> dict:
    import orjson

    from backtest.runner import run_backtest
    from config.loader import load_config

    path = os.path.join(workdir, f"backtest-{name}.json")
    with open(path, "wb") as f:
        f.write(orjson.dumps(config))
    summary = run_backtest(
        load_config(path).config, os.path.join(workdir, f"backtest-{name}"), report=False
    )
    stages = summary["stages"]
    orders = stages["orders"]["counters"]
    return {
        "ticks": stages["feed"]["counters"]["ticks"],
        "elapsed_s": summary["speed"]["elapsed_s"],
        "ticks_per_s": summary["speed"]["ticks_per_s"],
        "intents": stages["signals"]["counters"].get("intents", 0),
        # an intent orders approved is one entry order (its legs follow the entry's fill)
        "entries": orders.get("intents", 0) - orders.get("denials", 0),
        "orders": orders.get("orders", 0),
        "fills": orders.get("fills", 0),
        "denials": orders.get("denials", 0),
    }


def _backtests(
    workdir: str, instruments: list[dict], path: str, live_path: str, params: dict
) -> dict:
    from benchmarks.peers.otrade import LIFTED_RISK, strategies
    from benchmarks.pipeline import QUIET_STRATEGIES, replay_config

    _one(workdir, "warmup", replay_config(instruments, live_path, strategies(params), LIFTED_RISK))
    return {
        "crossover": _one(
            workdir, "crossover", replay_config(instruments, path, strategies(params), LIFTED_RISK)
        ),
        "quiet": _one(
            workdir, "quiet", replay_config(instruments, path, QUIET_STRATEGIES, LIFTED_RISK)
        ),
    }


def measure(session) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=context()) as pool:
        return pool.submit(
            _backtests,
            session.workdir,
            session.instruments,
            session.path,
            session.live_path,
            session.params,
        ).result(TIMEOUT_S)


def entry(detail: dict) -> dict:
    cross, quiet = detail["crossover"], detail["quiet"]
    verdict = "meets" if (quiet["ticks_per_s"] or 0) >= QUIET_TARGET_TICKS_PER_S else "MISSES"
    note = (
        "python -m backtest in one process: the pipeline's engines, brackets and journals, risk "
        "limits lifted; "
        f"{cross['orders']} orders incl. bracket legs, {cross['fills']} fills, {cross['denials']} "
        "denied; "
        f"no-intent strategy {quiet['ticks_per_s']:,} ticks/s ({verdict} the "
        f"{QUIET_TARGET_TICKS_PER_S:,} target), "
        f"{quiet['intents']} intents; no live latency (a backtest)"
    )
    return make_entry(cross["ticks_per_s"], None, cross["intents"], cross["entries"], note)


def quiet_ticks_per_s(detail: dict):
    """The no-intent run's throughput (None when the peer failed)."""
    return (detail.get("quiet") or {}).get("ticks_per_s")
