"""Restart benchmark, long journal: orders' SIGKILL → READY on a busy day, from its snapshot plus
the journal's tail (orders/snapshot.py) and, as the baseline measured in the same run, from the
whole journal (`journal.orders_snapshots: false`).

A busy day is made, not invented: the real pipeline runs the sim feed fast with a strategy that
trades on nearly every crossing and risk limits that let it (so the journal fills with intents,
orders, fills, exits and denials), until `orders.jsonl` holds JOURNAL_RECORDS records. Then orders
is SIGKILLed `kills` times, SETTLE_S apart (the restarted orders starts its snapshot writer, which
catches up: its cadence is 1,000 records / 2 s), and every restart's exit → ready is read from
supervisor.jsonl as in benchmarks/restart.py. The journal keeps growing meanwhile, as a busy day's
does.
"""

from __future__ import annotations

import os
import time

from benchmarks.harness import SupervisedRun, merge, new_run_id, scratch_dir, wait_for
from benchmarks.restart import bench_config, kill_and_wait, ms_summary, restart_samples

JOURNAL_RECORDS = {False: 40_000, True: 10_000}    # by --quick
KILLS = {False: 15, True: 7}
SETTLE_S = 3.0
TICK_RATE_HZ = 2_000     # as benchmarks/restart.py: a busier sim saturates the shared core


def busy_config(snapshots: bool) -> dict:
    return merge(bench_config(), {
        "feed": {"sim": {"tick_rate_hz": TICK_RATE_HZ}},
        "strategies": [{"name": "mac", "kind": "ma_crossover", "params": {
            "fast": 2, "slow": 3, "stop_loss_pct": 0.05, "target_pct": 0.05}}],
        "risk": {"rate_per_sec": 100_000, "rate_per_min": 10_000_000, "rate_per_day": 100_000_000,
                 "ops_threshold": 100_000, "max_open_orders": 100_000,
                 "max_position_qty": 1_000_000, "max_gross_exposure_inr": 1e12,
                 "daily_loss_limit_inr": 1e12, "max_order_notional_inr": 1e12},
        "journal": {"orders_snapshots": snapshots},
    })


def records(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def measure(snapshots: bool, journal_records: int, kills: int) -> dict:
    dead: dict[int, float] = {}
    with scratch_dir() as tmp:
        with SupervisedRun(tmp, busy_config(snapshots), run_id=new_run_id("benchlj")) as run:
            run.wait_all_ready()
            journal = os.path.join(run.run_dir, "orders.jsonl")   # the sim's day: the run dir
            wait_for(lambda: records(journal) >= journal_records, 600,
                     f"{journal_records:,} orders journal records", interval=0.5)
            at_first_kill = records(journal)
            for _ in range(kills):
                time.sleep(SETTLE_S)
                # READY is the figure; whether ticks flow again is not waited for: on this busy
                # day a restarted orders' ticks counter was seen not to move within 30 s (with or
                # without the snapshot; not investigated here)
                pid, killed_at = kill_and_wait(run, "orders", flowing=False)
                dead[pid] = killed_at
            counters = run.stage("orders").get("counters", {})
            at_last_kill = records(journal)
        samples = restart_samples(run.events(), dead)
    return {
        "snapshots": snapshots,
        "journal_records": [at_first_kill, at_last_kill],
        "exit_to_ready_ms": ms_summary(s["exit_to_ready_ms"] for s in samples),
        "startup_ms": ms_summary(s["startup_ms"] for s in samples),
        "snapshot_loads": counters.get("snapshot_loads", 0),
        "snapshot_refusals": counters.get("snapshot_refusals", 0),
        "snapshot_writer_restarts": counters.get("snapshot_writer_restarts", 0),
        "exit_code": run.exit_code,
        "leaked": run.leaked,
    }


def run(quick: bool) -> dict:
    n, kills = JOURNAL_RECORDS[quick], KILLS[quick]
    print(f"orders on a long journal (>= {n:,} records, sim {TICK_RATE_HZ:,} ticks/s, a busy "
          f"strategy): SIGKILL {kills} times, {SETTLE_S:g} s apart, with and without its snapshot")
    cases = {name: measure(on, n, kills) for name, on in (("whole_journal", False),
                                                           ("snapshot", True))}
    for name, c in cases.items():
        e, u = c["exit_to_ready_ms"], c["startup_ms"]
        print(f"  {name:<14} journal {c['journal_records'][0]:,}-{c['journal_records'][1]:,} "
              f"records: exit→ready p50 {e.get('p50_ms')} p99 {e.get('p99_ms')} max "
              f"{e.get('max_ms')} ms (n={e.get('count')}); startup p50 {u.get('p50_ms')} ms; "
              f"snapshot loads {c['snapshot_loads']}, refusals {c['snapshot_refusals']}, writer "
              f"restarts {c['snapshot_writer_restarts']}; exit {c['exit_code']}, leftovers "
              f"{c['leaked'] or 'none'}")
    before, after = (cases[k]["exit_to_ready_ms"].get("p50_ms") for k in ("whole_journal",
                                                                          "snapshot"))
    if before and after:
        print(f"  snapshot / whole journal, exit→ready p50: {after / before:.2f}x")
    return cases


def table_rows(cases: dict) -> list[dict]:
    from benchmarks import table

    rows = []
    for name, c in cases.items():
        e = c["exit_to_ready_ms"]
        value = [e["p50_ms"], e["p99_ms"], e["max_ms"]] if e.get("count") else None
        rows.append(table.row("restart", f"orders, long journal ({name.replace('_', ' ')}): "
                              "exit → READY", value, "ms",
                              f"p50/p99/max; {e.get('count')} kills; journal "
                              f"{c['journal_records'][0]:,}+ records"))
    return rows
