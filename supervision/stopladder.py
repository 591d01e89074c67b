"""The one stop ladder every stage goes down: stop request, grace, SIGTERM, grace, SIGKILL.

Kept apart from the watch loop (core.py) but run with the core's clock, wait and run log, so the
unit tests drive it with a fake clock. A run log that cannot be written does not stop the ladder:
RunLog never raises (issue 12.4), and a stage is always reaped before this returns.

A drain that moves is never cut short (issue 11.7). At the end of a replay under load, orders was
SIGKILLed half-way through its backlog because its grace was extended only while its heartbeat was
younger than a quarter of the hang timeout, and it beat once per 4,096-tick batch. Now the grace
runs from the stage's last drain *progress* (`progress` in its stage-table row, bumped per unit of
drain work, however long the unit took): only a stage that has made no progress for a whole grace is
signalled. A stage that is signalled anyway, and does not then end its drain itself (exit 0 with its
row STOPPED or FINISHED), is recorded in `core.outcome.drain` with what it left (ticks not applied):
the run then exits EXIT_DRAIN_INCOMPLETE unless it already failed otherwise.
"""

from __future__ import annotations

import signal

from common import stagetable as st

# Once SIGKILLed, a process is gone as soon as the kernel has torn it down; 5 s is for a very busy
# box.
KILL_GRACE_S = 5.0


BEATING_GRACE_FACTOR = 4   # a beating stage gets at most this many graces before the ladder goes on


def stop_one(core, proc) -> None:
    proc.restart_due = None
    if proc.proc is None:
        return
    if not proc.alive:
        core._reap(proc)
        return
    core.runlog.event("stopping", proc.name, pid=proc.pid)
    row = core.table.row(proc.name)
    row["stop_requested"] = 1
    grace = core.limits.stop_grace_s
    signalled = None
    for sig, wait_s in ((None, grace), (signal.SIGTERM, grace / 2), (signal.SIGKILL, KILL_GRACE_S)):
        if sig is not None:
            signalled = sig
            core.runlog.event(
                "signal", proc.name, pid=proc.pid, signal=int(sig), reason="no drain progress"
            )
            proc.send(sig)
        deadline = core._now() + wait_s
        # Beating (still in its loop, about to see the request) buys time only up to a bound: a
        # stage that beats but never acts on the stop is signalled all the same.
        beat_cap = core._now() + BEATING_GRACE_FACTOR * max(wait_s, 0.05)
        seen = _progress(row)
        while proc.alive and core._now() < deadline:
            core.wait([proc.sentinel], 0.02)
            if sig is None or sig == signal.SIGTERM:
                now_seen = _progress(row)
                if now_seen != seen:        # the drain moved: a whole grace again from now
                    seen, deadline = now_seen, core._now() + wait_s
                elif sig is None and _beating(core, proc):
                    deadline = max(deadline, min(beat_cap, core._now() + 0.05))
        if not proc.alive:
            break
    code, killed_by = proc.exit_status()
    state = int(row["state"])
    core._reap(proc)
    if signalled is not None and not (code == 0 and state in (st.STOPPED, st.FINISHED)):
        how = signal.Signals(killed_by).name if killed_by else f"exit {code}"
        record_incomplete(core, proc.name, how, state)


def record_incomplete(core, name: str, how: str, state: int) -> None:
    entry = {
        "stage": name,
        "ended_by": how,
        "state": st.STATE_NAMES.get(state, str(state)),
        **core.drain_left(name),
    }
    core.outcome.drain.append(entry)
    core.runlog.event("drain_incomplete", name, **{k: v for k, v in entry.items() if k != "stage"})


def _progress(row) -> int:
    try:
        return int(row["progress"])
    except (KeyError, ValueError, IndexError):   # a row without the field: heartbeat rule only
        return 0


def _beating(core, proc) -> bool:
    age_s = (core.clock_ns() - int(core.table.row(proc.name)["heartbeat_ns"])) / 1e9
    return age_s < core.limits.heartbeat_timeout_s / 4
