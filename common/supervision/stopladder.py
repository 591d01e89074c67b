"""The one stop ladder every stage goes down: stop request, grace, SIGTERM, grace, SIGKILL.

Kept apart from the watch loop (core.py) but run with the core's clock, wait and run log, so the unit
tests drive it with a fake clock. A run log that cannot be written does not stop the ladder: RunLog
never raises (issue 12.4), and a stage is always reaped before this returns.
"""

from __future__ import annotations

import signal

# Once SIGKILLed, a process is gone as soon as the kernel has torn it down; 5 s is for a very busy box.
KILL_GRACE_S = 5.0


def stop_one(core, proc) -> None:
    proc.restart_due = None
    if proc.proc is None:
        return
    if not proc.alive:
        core._reap(proc)
        return
    core.runlog.event("stopping", proc.name, pid=proc.pid)
    core.table.row(proc.name)["stop_requested"] = 1
    grace = core.limits.stop_grace_s
    for sig, wait_s in ((None, grace), (signal.SIGTERM, grace / 2), (signal.SIGKILL, KILL_GRACE_S)):
        if sig is not None:
            core.runlog.event("signal", proc.name, pid=proc.pid, signal=int(sig))
            proc.send(sig)
        # A stage that is draining keeps beating; give it its grace from the last beat.
        deadline = core._now() + wait_s
        while proc.alive and core._now() < deadline:
            core.wait([proc.sentinel], 0.02)
            if sig is None and _beating(core, proc):
                deadline = max(deadline, core._now() + 0.05)
        if not proc.alive:
            break
    core._reap(proc)


def _beating(core, proc) -> bool:
    age_s = (core.clock_ns() - int(core.table.row(proc.name)["heartbeat_ns"])) / 1e9
    return age_s < core.limits.heartbeat_timeout_s / 4
