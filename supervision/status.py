"""One status snapshot of the run, read from the stage table: the source of /health, /metrics and
the view."""

from __future__ import annotations

import os

import orjson

from common import rundir
from common import stagetable as st
from common.atomicfile import read_object
from common.clock import mono_ns
from common.tradingstate import effective, name_of


def stage_status(table: st.StageTable, proc) -> dict:
    row = table.row(proc.name)
    beat = int(row["heartbeat_ns"])
    names = st.COUNTER_NAMES[proc.name]
    lat = [int(x) for x in row["lat_ns"]]
    state = st.STATE_NAMES.get(int(row["state"]), "unknown")
    if proc.gave_up:
        state = "failed"
    elif proc.proc is None:
        state = "restarting" if proc.restart_due is not None else "down"
    return {
        "state": state,
        "pid": proc.pid,
        "cores": list(proc.stage_ctx.cores),
        # spin / yield / block (config/placement.py); "auto" for a context without one (a fake)
        "wait": getattr(proc.stage_ctx, "wait", "auto"),
        "restarts": proc.restarts,
        "heartbeat_age_s": round((mono_ns() - beat) / 1e9, 4) if beat else -1.0,
        "ring_lag": int(row["lag"]),
        "counters": {n: int(row["counters"][i]) for i, n in enumerate(names)},
        "latency": {
            "p50_us": lat[0] / 1e3,
            "p99_us": lat[1] / 1e3,
            "p999_us": lat[2] / 1e3,
            "max_us": lat[3] / 1e3,
        },
    }


def read_positions(run_dir: str) -> dict:
    """positions.json as the positions stage last wrote it (atomically, by rename)."""
    try:
        with open(os.path.join(run_dir, rundir.POSITIONS), "rb") as f:
            return orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return {}


def snapshot(run_id: str, run_dir: str, table: st.StageTable, procs) -> dict:
    # orders' state and reason from its one record (common/tradingstate.py), against the
    # supervisor's own halt in the control row
    trading, by, reason = effective(table.trading_state, run_dir)
    return {
        "run_id": run_id,
        "run_dir": run_dir,
        "trading_state": name_of(trading),
        "trading_state_code": trading,
        "trading_state_by": by,
        "trading_state_reason": reason,
        "stages": {p.name: stage_status(table, p) for p in procs},
        "positions": read_positions(run_dir),
        # Whose book `positions` is: a run on a live feed trades the account's day (every run of
        # it), while the stages' counters are this run's (supervision/accountday.py).
        "account_day": read_object(os.path.join(run_dir, rundir.ACCOUNT_INFO)) or None,
    }
