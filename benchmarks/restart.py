"""Restart benchmark: how long a stage takes from SIGKILL to READY again, for each of the four
stages; then orders alone on a long journal, with and without its snapshot
(benchmarks/restart_journal.py).

The real `python supervisor.py` runs the default universe on the sim feed (2,000 ticks/s). In turns
(positions, orders, signals, feed, and again) the benchmark SIGKILLs a stage, waits until the
supervisor has it READY under a new pid and its ticks counter moves again (and signals' too: ticks
flow through the pipeline), then kills the next. The restart policy is made to restart at once every
time (a window shorter than the time between two kills of one stage, so no backoff ever applies;
each `restart` event's `delay_ms` is reported to prove it).

All times come from supervisor.jsonl, written by the supervisor with wall-clock `ts`:
- exit → ready: the supervisor reaped the dead stage (`exit`) → it saw the new one READY (`ready`);
- exit → spawn: reaping, restart decision and starting the process: handing the spare parked for
  the stage its restart (supervision/spare.py), or asking the forkserver for a fork when there is
  none (`from_spare` counts the restarts that had one);
- spawn → ready: the spare waking (or the fork and the child's preparation), the stage's start,
  READY seen;
- startup: the stage's own figure in the `ready` event (its entry in run_stage → READY, monotonic
  clock);
- kill → exit: this process's `time.time()` just before os.kill → `exit`: how soon the death is
  seen.
Target (reported, not asserted): exit → ready p50 ≤ 50 ms, p99 ≤ 150 ms.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np

from benchmarks.harness import (
    STAGES,
    SupervisedRun,
    default_config,
    merge,
    new_run_id,
    scratch_dir,
    wait_for,
)

KILLS_PER_STAGE = {False: 20, True: 5}     # by --quick
TARGET_P50_MS, TARGET_P99_MS = 50.0, 150.0
TICK_RATE_HZ = 2000
RESTART_TIMEOUT_S = 30.0
METRICS = (
    "exit_to_ready_ms",
    "exit_to_spawn_ms",
    "spawn_to_ready_ms",
    "startup_ms",
    "kill_to_exit_ms",
    "kill_to_ready_ms",
)


def bench_config() -> dict:
    return merge(
        default_config(),
        {
            "feed": {
                "source": "sim",
                "sim": {"tick_rate_hz": TICK_RATE_HZ, "session_date": "2026-01-05"},
            },
            "run": {"log_level": "WARNING"},
            # 50 ms window: every kill finds the window empty, so every restart is immediate (no
            # backoff).
            "supervisor": {
                "dashboard": False,
                "heartbeat_timeout_ms": 1000,
                "restart": {
                    "max_restarts": 10_000,
                    "window_s": 0.05,
                    "backoff_initial_ms": 1,
                    "backoff_max_ms": 1,
                },
            },
        },
    )


def ms_summary(values) -> dict:
    """p50, p99, max and mean of samples in ms (exact percentiles over all samples)."""
    samples = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if samples.size == 0:
        return {"count": 0}
    p50, p99 = np.percentile(samples, [50.0, 99.0])
    return {
        "count": int(samples.size),
        "p50_ms": round(float(p50), 2),
        "p99_ms": round(float(p99), 2),
        "max_ms": round(float(samples.max()), 2),
        "mean_ms": round(float(samples.mean()), 2),
    }


# -- driving the run ---------------------------------------------------------------------------
def _flowing(run: SupervisedRun, stage: str, since: dict) -> bool:
    """The stage's own ticks counter and signals' moved past what they were when it came back."""
    doc = run.health()
    if not doc:
        return False
    counters = {
        name: doc["stages"][name]["counters"].get("ticks", 0) for name in (stage, "signals")
    }
    return all(counters[name] > since[name] for name in counters)


def kill_and_wait(run: SupervisedRun, stage: str, flowing: bool = True) -> tuple[int, float]:
    """SIGKILL `stage`, wait until it is READY again and (`flowing`) ticks flow; returns (dead
    pid, kill wall time)."""
    run.check_alive()
    pid = int(run.stage(stage)["pid"])
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)

    def back():
        run.check_alive()
        doc = run.health()
        info = doc["stages"] if doc else {}
        if stage in info and info[stage]["state"] == "ready" and info[stage]["pid"] not in (0, pid):
            return {name: info[name]["counters"].get("ticks", 0) for name in (stage, "signals")}
        return None

    since = wait_for(back, RESTART_TIMEOUT_S, f"{stage} READY again after SIGKILL of pid {pid}")
    if not flowing:
        return pid, killed_at
    wait_for(
        lambda: _flowing(run, stage, since),
        RESTART_TIMEOUT_S,
        f"ticks flowing after {stage} restart",
    )
    return pid, killed_at


# -- reading supervisor.jsonl ------------------------------------------------------------------
def restart_samples(events: list[dict], kills: dict[int, float]) -> list[dict]:
    """One sample per killed pid: its `exit`, the `restart`, `spawn` and `ready` that follow it."""
    samples = []
    for i, ev in enumerate(events):
        if ev["kind"] != "exit" or ev.get("pid") not in kills:
            continue
        later = [e for e in events[i + 1:] if e["stage"] == ev["stage"]]
        spawn = next((e for e in later if e["kind"] == "spawn"), None)
        ready = next((e for e in later if e["kind"] == "ready"), None)
        restart = next((e for e in later if e["kind"] == "restart"), None)
        if spawn is None or ready is None:
            continue
        killed_at = kills[ev["pid"]]
        samples.append({
            "stage": ev["stage"], "signal": ev.get("signal"),
            "exit_to_ready_ms": (ready["ts"] - ev["ts"]) * 1e3,
            "exit_to_spawn_ms": (spawn["ts"] - ev["ts"]) * 1e3,
            "spawn_to_ready_ms": (ready["ts"] - spawn["ts"]) * 1e3,
            "startup_ms": ready.get("startup_ms"),
            "kill_to_exit_ms": (ev["ts"] - killed_at) * 1e3,
            "kill_to_ready_ms": (ready["ts"] - killed_at) * 1e3,
            "backoff_ms": restart.get("delay_ms", 0.0) if restart else None,
            "from_spare": bool(spawn.get("spare")),
        })
    return samples


def per_stage(samples: list[dict]) -> dict:
    out: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        mine = [s for s in samples if s["stage"] == stage]
        out[stage] = {metric: ms_summary(s[metric] for s in mine) for metric in METRICS}
        out[stage]["kills"] = len(mine)
        out[stage]["max_backoff_ms"] = max((s["backoff_ms"] or 0.0 for s in mine), default=0.0)
        out[stage]["from_spare"] = sum(s["from_spare"] for s in mine)
    return out


def print_table(stages: dict) -> None:
    print(
        f"{'stage':<10} {'kills':>5}   {'exit→ready p50':>14} {'p99':>7} {'max':>7}   "
        f"{'startup p50':>11} {'p99':>6} {'max':>6}   {'exit→spawn p50':>14}  "
        f"{'spawn→ready p50':>15}  "
        f"{'kill→exit p50':>13}  (ms)"
    )
    for stage, s in stages.items():
        e, u = s["exit_to_ready_ms"], s["startup_ms"]
        if not e.get("count"):
            print(f"{stage:<10} {0:>5}   no samples")
            continue
        print(
            f"{stage:<10} {s['kills']:>5}   {e['p50_ms']:>14.1f} {e['p99_ms']:>7.1f} "
            f"{e['max_ms']:>7.1f}   "
            f"{u['p50_ms']:>11.1f} {u['p99_ms']:>6.1f} {u['max_ms']:>6.1f}   "
            f"{s['exit_to_spawn_ms']['p50_ms']:>14.1f}  {s['spawn_to_ready_ms']['p50_ms']:>15.1f}  "
            f"{s['kill_to_exit_ms']['p50_ms']:>13.1f}"
        )


def measure(kills_per_stage: int, run_id_prefix: str = "bench") -> dict:
    """Kill every stage `kills_per_stage` times in one run; crash-to-READY figures per stage."""
    kills: dict[int, float] = {}
    with scratch_dir() as tmp:
        with SupervisedRun(tmp, bench_config(), run_id=new_run_id(run_id_prefix)) as run:
            run.wait_all_ready()
            wait_for(lambda: _flowing(run, "feed", {"feed": 0, "signals": 0}), 30, "first ticks")
            for _ in range(kills_per_stage):
                for stage in STAGES:
                    pid, killed_at = kill_and_wait(run, stage)
                    kills[pid] = killed_at
        events = run.events()
        samples = restart_samples(events, kills)
        trouble = [e for e in events if e["kind"] in ("hang", "give_up", "restart_denied")]
        result = {
            "kills_per_stage": kills_per_stage,
            "tick_rate_hz": TICK_RATE_HZ,
            "targets": {
                "exit_to_ready_p50_ms": TARGET_P50_MS,
                "exit_to_ready_p99_ms": TARGET_P99_MS,
            },
            "stages": per_stage(samples),
            "unexpected_events": trouble,
            "exit_code": run.exit_code,
            "leaked": run.leaked,
        }
    return result


def run(quick: bool = False) -> dict:
    n = KILLS_PER_STAGE[quick]
    print(
        f"SIGKILL each stage {n} times (sim feed {TICK_RATE_HZ:,} ticks/s); times from "
        "supervisor.jsonl"
    )
    result = measure(n)
    print_table(result["stages"])
    for stage, s in result["stages"].items():
        e = s["exit_to_ready_ms"]
        if e.get("count"):
            verdict = (
                "meets"
                if e["p50_ms"] <= TARGET_P50_MS and e["p99_ms"] <= TARGET_P99_MS
                else "MISSES"
            )
            print(
                f"{stage:<10} exit→ready {verdict} the target (p50 ≤ {TARGET_P50_MS:g} ms, "
                f"p99 ≤ {TARGET_P99_MS:g} ms); largest backoff applied {s['max_backoff_ms']:g} ms;"
                f" {s['from_spare']} of {s['kills']} restarts from a spare"
            )
    if result["unexpected_events"]:
        print(f"unexpected supervisor events: {result['unexpected_events']}")
    print(f"supervisor exit code {result['exit_code']}; leftovers: {result['leaked'] or 'none'}")
    from benchmarks import restart_journal     # it builds on this module's helpers

    result["long_journal"] = restart_journal.run(quick)
    return result


def table_rows(result: dict) -> list[dict]:
    """The suite table's rows: SIGKILL → READY again per stage (p50 / p99 / max, ms)."""
    from benchmarks import table

    rows = []
    for stage, s in result["stages"].items():
        e, u = s["exit_to_ready_ms"], s["startup_ms"]
        value = [e["p50_ms"], e["p99_ms"], e["max_ms"]] if e.get("count") else None
        rows.append(table.row("restart", f"{stage}: exit → READY", value, "ms",
                              f"p50/p99/max; {s['kills']} kills; startup p50 {u.get('p50_ms')} ms"))
    if "long_journal" in result:
        from benchmarks import restart_journal

        rows += restart_journal.table_rows(result["long_journal"])
    if result["exit_code"] or result["unexpected_events"] or result["leaked"]:
        rows.append(
            table.row(
                "restart",
                "supervisor exit code",
                result["exit_code"],
                "",
                f"unexpected {len(result['unexpected_events'])}; leaked "
                f"{result['leaked'] or 'none'}",
            )
        )
    return rows
