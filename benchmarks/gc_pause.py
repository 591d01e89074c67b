"""GC benchmark: what Python's garbage collector does to the hot path's tail, `run.gc` default vs
frozen.

Each mode runs in a fresh interpreter that starts as a stage process does: it imports what the
supervisor's forkserver preloads (numpy, numba, zmq, config, the four stages and their compiled
kernels, ~120,000 objects) and freezes them as the forkserver does (common/gcfreeze.py), builds the
orders engine and the signals engine as their stages do (benchmarks/engines.py), warms them, and
then applies the mode exactly as common/stage.py does after `start()` (common/gcpolicy.py: "default"
unfreezes everything and is plain CPython; "frozen" collects and freezes again):

- orders: bracket round trips (intent + tick → order at the paper broker; the tick that fills the
  entry and places the exits; the tick that fills the target and cancels the stop), each tick timed:
  every surviving Order, PaperOrder, trade and bracket is what makes the collector run here;
- signals: the default strategy over sim ticks, one tick per step (a live-pace batch), intents
  journaled and published.

Reported per mode: the percentiles of every orders tick, of the handoff alone and of the signals
step; every collection the collector ran meanwhile (gc.callbacks: generation, pause) — in "default"
the automatic full collections, which walk the whole heap, are the ~100+ ms pauses, and "frozen"
has none; the cost of one full collection after the run (in "default" the heap and the run's
state, in "frozen" the run's state only); and the freeze itself, which the stage pays once before
READY. The signals step leaves nothing behind (tests/test_hot_path.py), so the collector does not
run there in either mode and any difference between them is the machine's noise. Without --quick the
live pipeline (benchmarks/pipeline.py's live pace run) is also run once per mode and its stage
histograms reported. Modes alternate, so machine noise that comes and goes hits both.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
import orjson

from benchmarks import table
from benchmarks.stats import format_latency, ratio, summarize

MODES = ("default", "frozen")        # baseline first: the order of the rows and of the runs
SIZES: dict[bool, dict[str, Any]] = {
    False: {"round_trips": 6000, "signal_steps": 100_000, "repeats": 2, "live_seconds": 10.0},
    True: {"round_trips": 1500, "signal_steps": 30_000, "repeats": 1, "live_seconds": 0.0},
}
WARM_ROUND_TRIPS, WARM_STEPS = 100, 2000
CHILD_TIMEOUT_S = 300.0


class PauseRecorder:
    """Every collection while installed: (generation, ns), via gc.callbacks."""

    def __init__(self):
        self.pauses: list[tuple[int, int]] = []
        self._start = 0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.pauses.append((info["generation"], time.perf_counter_ns() - self._start))

    def __enter__(self) -> "PauseRecorder":
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)

    def by_generation(self) -> dict:
        out = {}
        for gen in (0, 1, 2):
            ns = [p for g, p in self.pauses if g == gen]
            out[str(gen)] = {"count": len(ns), "max_us": round(max(ns, default=0) / 1e3, 1),
                             "total_ms": round(sum(ns) / 1e6, 2)}
        return out


# -- the child: one mode, one fresh interpreter --------------------------------------------------
def stage_heap() -> None:
    """Import what the forkserver preloads for every stage, its freeze included
    (common/gcfreeze.py)."""
    from supervisor import PRELOAD

    for module in PRELOAD:
        importlib.import_module(module)


def child(mode: str, round_trips: int, signal_steps: int) -> dict:
    from benchmarks.engines import OrderDesk, SignalDesk
    from benchmarks.harness import scratch_dir
    from common import gcpolicy

    stage_heap()
    with scratch_dir() as tmp, OrderDesk(tmp) as desk:
        signals = SignalDesk(tmp, WARM_STEPS + signal_steps)
        n = len(desk.rows)
        for k in range(WARM_ROUND_TRIPS):
            desk.round_trip(k % n)
        for _ in range(WARM_STEPS):
            signals.step(1)
        objects = len(gc.get_objects()) + gc.get_freeze_count()
        start = time.perf_counter_ns()
        gcpolicy.apply(mode)
        apply_ms = (time.perf_counter_ns() - start) / 1e6
        with PauseRecorder() as orders_gc:
            ticks = np.array([desk.round_trip(k % n) for k in range(round_trips)], dtype=np.int64)
        with PauseRecorder() as signals_gc:
            steps = np.array([signals.step(1) for _ in range(signal_steps)], dtype=np.int64)
        desk.check_flat()
        start = time.perf_counter_ns()
        garbage = gc.collect()
        full_ms = (time.perf_counter_ns() - start) / 1e6
        signals.close()
    return {"mode": mode, "objects": objects, "frozen_objects": gc.get_freeze_count(),
            "apply_ms": round(apply_ms, 2), "full_collect_ms": round(full_ms, 2),
            "garbage_found": garbage,
            "thresholds": list(gc.get_threshold()), "intents": signals.intents,
            "orders_ticks_ns": ticks.ravel().tolist(), "handoff_ns": ticks[:, 0].tolist(),
            "signals_step_ns": steps.tolist(),
            "pauses": {"orders": orders_gc.by_generation(), "signals": signals_gc.by_generation()}}


def run_child(mode: str, round_trips: int, signal_steps: int, workdir: str) -> dict:
    out = os.path.join(workdir, f"gc-{mode}-{time.monotonic_ns()}.json")
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.gc_pause",
        "--child",
        mode,
        "--round-trips",
        str(round_trips),
        "--signal-steps",
        str(signal_steps),
        "--out",
        out,
    ]
    subprocess.run(cmd, check=True, timeout=CHILD_TIMEOUT_S)
    with open(out, "rb") as f:
        return orjson.loads(f.read())


# -- the parent: modes alternated, then merged -----------------------------------------------------
def merge_runs(runs: list[dict]) -> dict:
    """All samples of one mode's runs pooled; the per-run figures as lists."""
    pooled = {key: summarize(np.concatenate([np.asarray(r[f"{key}_ns"]) for r in runs]))
              for key in ("orders_ticks", "handoff", "signals_step")}
    per_run = {
        key: [r[key] for r in runs]
        for key in ("apply_ms", "full_collect_ms", "garbage_found", "objects", "frozen_objects")
    }
    return {
        **pooled,
        **per_run,
        "thresholds": runs[0]["thresholds"],
        "pauses": [r["pauses"] for r in runs],
    }


def live_modes(seconds: float) -> dict:
    """The live-pace pipeline once per mode, everything else equal."""
    from benchmarks import pipeline
    from benchmarks.harness import SupervisedRun, merge, new_run_id, scratch_dir

    instruments, out = pipeline.universe(), {}
    with scratch_dir() as tmp:
        for mode in MODES:
            config = merge(pipeline.live_config(instruments), {"run": {"gc": mode}})
            before = pipeline.wall_minus_mono()
            with SupervisedRun(
                tmp, config, run_id=new_run_id("gcbench"), args=("--duration", str(seconds))
            ) as r:
                r.wait_exit(seconds + 180.0)
            offset = (before + pipeline.wall_minus_mono()) // 2
            out[mode] = {
                "latency": pipeline.stage_latencies(r, offset),
                **pipeline.outcome(r, r.events()),
                "leaked": r.leaked,
            }
    return out


def measure(
    round_trips: int, signal_steps: int, repeats: int = 1, live_seconds: float = 0.0
) -> dict:
    from benchmarks.harness import scratch_dir

    runs: dict[str, list] = {mode: [] for mode in MODES}
    with scratch_dir() as tmp:
        for _ in range(repeats):
            for mode in MODES:
                runs[mode].append(run_child(mode, round_trips, signal_steps, tmp))
    modes = {mode: merge_runs(r) for mode, r in runs.items()}
    ratios = {f"{key} p99.9 frozen / default": ratio(modes["frozen"][key].get("p99_9_us", 0),
                                                    modes["default"][key].get("p99_9_us", 0))
              for key in ("orders_ticks", "handoff", "signals_step")}
    result = {
        "round_trips": round_trips,
        "signal_steps": signal_steps,
        "repeats": repeats,
        "modes": modes,
        "ratios": ratios,
    }
    if live_seconds:
        result["live"] = live_modes(live_seconds)
    return result


LABELS = (("orders_ticks", "orders tick"), ("handoff", "intent → broker handoff"),
          ("signals_step", "signals step (1 tick)"))


def run(quick: bool = False) -> dict:
    sizes = SIZES[quick]
    print(f"each mode in a fresh interpreter with a stage's heap; {sizes}")
    result = measure(**sizes)
    for key, label in LABELS:
        for mode in MODES:
            print(format_latency(f"{label}, gc {mode}", result["modes"][mode][key]))
    for mode in MODES:
        m = result["modes"][mode]
        print(
            f"gc {mode}: full collection {m['full_collect_ms']} ms, apply {m['apply_ms']} ms, "
            f"heap {m['objects']} objects, frozen {m['frozen_objects']}; collections {m['pauses']}"
        )
    for mode, live in result.get("live", {}).items():
        for key in ("tick_to_signal", "tick_to_order"):
            print(format_latency(f"live {key}, gc {mode}", live["latency"][key]))
    for name, value in result["ratios"].items():
        print(f"ratio {name:<40} {value}")
    return result


def _collections(pauses: list[dict], part: str) -> tuple[list[int], float]:
    counts = [sum(p[part][g]["count"] for p in pauses) for g in ("0", "1", "2")]
    return counts, max(p[part][g]["max_us"] for p in pauses for g in ("0", "1", "2")) / 1e3


def table_rows(result: dict) -> list[dict]:
    rows, modes = [], result["modes"]
    for key, label in LABELS:
        for mode in MODES:
            rows.append(table.latency_row("gc", f"{label}, gc {mode}", modes[mode][key]))
    for mode in MODES:
        counts, worst = _collections(modes[mode]["pauses"], "orders")
        rows.append(table.row("gc", f"collections in orders run, {mode}", counts, "",
                              f"generation 0 / 1 / 2; longest {worst:.1f} ms"))
    rows.append(
        table.row(
            "gc",
            "full collection after the run, default/frozen",
            [max(modes[m]["full_collect_ms"]) for m in MODES],
            "ms",
            f"default also walks the {max(modes['default']['objects']):,}-object heap",
        )
    )
    rows.append(
        table.row(
            "gc",
            "freeze before READY (frozen)",
            max(modes["frozen"]["apply_ms"]),
            "ms",
            "paid once per stage start",
        )
    )
    for mode, live in result.get("live", {}).items():
        for key in ("tick_to_signal", "tick_to_order"):
            rows.append(
                table.latency_row(
                    "gc", f"live {key.replace('_', ' ')}, gc {mode}", live["latency"][key]
                )
            )
    rows.append(
        table.row(
            "gc",
            "orders tick p99.9 frozen / default",
            result["ratios"]["orders_ticks p99.9 frozen / default"],
            "x",
            "< 1: frozen is better",
        )
    )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gc_pause", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--child", choices=MODES, help="(internal) measure one mode in this interpreter"
    )
    parser.add_argument("--round-trips", type=int, default=SIZES[True]["round_trips"])
    parser.add_argument("--signal-steps", type=int, default=SIZES[True]["signal_steps"])
    parser.add_argument("--out", metavar="FILE", help="(with --child) where the samples go")
    args = parser.parse_args(argv)
    if not args.child:
        parser.error("run it as `python -m benchmarks gc`; --child is what that runs per mode")
    document = child(args.child, args.round_trips, args.signal_steps)
    with open(args.out, "wb") as f:
        f.write(orjson.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
