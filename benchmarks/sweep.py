"""Sweep benchmark: cells per second of `python -m backtest.sweep` on a local Ray with 1 and 2
workers.

`python -m benchmarks sweep [--quick]`. One generated session (benchmarks.pipeline's generator, 10
instruments, 100,000 ticks; 50,000 with --quick) and a grid of the EMA crossover's fast × slow (12
cells; 6 with --quick), objective net P&L, run twice into fresh output directories: `--workers 1`,
then `--workers 2`. cells/s counts the cells' time only: reading the file, Ray's start-up and each
worker's warm-up run (imports, numba's cached kernels; backtest/sweep/pool.py) are reported apart.

Scaling can only be as good as the cores the machine gives. So the same run also measures the
machine: eight pure-Python CPU-bound tasks on Ray with 1 and then 2 CPUs. The sweep's speed-up is
reported next to that one; on a quiet 2-core host both are near 2, on a shared one both fall short.
Nothing is asserted.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import orjson

SIZES = {False: (100_000, (5, 10, 20), (30, 50, 80, 120)), True: (50_000, (5, 10, 20), (30, 60))}
CALIBRATION_TASKS, CALIBRATION_LOOP = 8, 3_000_000


def _burn(n: int) -> float:
    started, x = time.perf_counter(), 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - started


def machine_speedup() -> dict:
    """Eight CPU-bound tasks on a private Ray of 1 and then 2 CPUs: how much a second worker can
    give."""
    import ray

    from backtest.sweep.pool import QUIET_ENV

    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    seconds = {}
    for cpus in (1, 2):
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)
        try:
            burn = ray.remote(_burn)
            ray.get([burn.remote(10) for _ in range(cpus)])           # the workers started
            started = time.perf_counter()
            ray.get([burn.remote(CALIBRATION_LOOP) for _ in range(CALIBRATION_TASKS)])
            seconds[cpus] = time.perf_counter() - started
        finally:
            ray.shutdown()
    return {
        "tasks_s": {str(k): round(v, 3) for k, v in seconds.items()},
        "speedup": round(seconds[1] / seconds[2], 2),
    }


def run(quick: bool = False) -> dict:
    from backtest.sweep.driver import Options, run_sweep
    from benchmarks.harness import scratch_dir
    from benchmarks.peers.otrade import strategies
    from benchmarks.peers.session import strategy_params
    from benchmarks.pipeline import replay_config, universe, write_session

    n_ticks, fasts, slows = SIZES[quick]
    axes = {"strategies.0.params.fast": list(fasts), "strategies.0.params.slow": list(slows)}
    result: dict[str, Any] = {"ticks_per_cell": n_ticks, "cells": len(fasts) * len(slows),
                              "workers": {}}
    with scratch_dir() as tmp:
        instruments = universe(10)
        data = os.path.join(tmp, "session.parquet")
        write_session(data, instruments, n_ticks)
        config = os.path.join(tmp, "base.json")
        with open(config, "wb") as f:
            f.write(orjson.dumps(replay_config(instruments, data, strategies(strategy_params()))))
        for workers in (1, 2):
            doc = run_sweep(
                Options(
                    config=config,
                    axes=axes,
                    out_dir=os.path.join(tmp, f"w{workers}"),
                    objective="net_pnl",
                    workers=workers,
                )
            )
            result["workers"][str(workers)] = {
                k: doc[k] for k in ("cells_run", "cells_failed", "cells_per_s", "timings_s")
            }
            print(
                f"sweep, {workers} worker(s): {doc['cells_run']} cells of {n_ticks:,} ticks, "
                f"{doc['cells_per_s']} cells/s (Ray's start and warm-up, "
                f"{doc['timings_s']['ray_start_warm_s']} s, apart)"
            )
    one, two = (result["workers"][k]["cells_per_s"] for k in ("1", "2"))
    result["speedup"] = round(two / one, 2) if one and two else None
    result["machine"] = machine_speedup()
    print(
        f"speed-up with 2 workers: sweep {result['speedup']}×, CPU-bound Ray tasks on this machine "
        f"{result['machine']['speedup']}× (the most a second worker can give here)"
    )
    return result


def table_rows(result: dict) -> list[dict]:
    rows = []
    for workers, figures in result["workers"].items():
        rows.append(
            {
                "benchmark": "sweep",
                "metric": f"cells/s, {workers} worker(s)",
                "value": figures["cells_per_s"],
                "unit": "cells/s",
                "note": f"{result['cells']} cells of {result['ticks_per_cell']:,} ticks",
            }
        )
    rows.append(
        {
            "benchmark": "sweep",
            "metric": "speed-up, 2 workers ÷ 1",
            "value": result["speedup"],
            "unit": "×",
            "note": f"machine's own: {result['machine']['speedup']}× (CPU-bound Ray tasks)",
        }
    )
    return rows
