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

Nor is a stop that moves on a busy box. Orders was SIGKILLed half-way through its stop's flatten
(cancels sent, closes not yet filled: left at the broker with nothing managing them, exit 6) when
one unit of its work outlasted the grace by the clock: a broker request, which may take up to its
timeouts, or a few milliseconds of work spread over seconds of waiting for a CPU. So the grace is
spent only in *silence* (`Silence`): the time since the last progress, less the time the stage was
runnable but waiting for a CPU (its run-queue wait, the alibi the hang verdict uses:
supervision/hang.py), and not counted while the stage waits inside a call it declared bounded
(`blocked_until_ns` in its row: a broker request, common.stage.StageRuntime.blocked) until that
bound. A stage that is stuck (a loop that never reports, a call past its bound, SIGSTOP) is silent
and is signalled as before.
"""

from __future__ import annotations

import signal

from common import stagetable as st

# Once SIGKILLed, a process is gone as soon as the kernel has torn it down, which on a very busy box
# can take seconds: the ladder waits for that, and says so (kind "kill_slow") every this often.
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
    silence = Silence(core, proc.pid, row)
    signalled: int | None = None
    for sig, wait_s in ((None, grace), (signal.SIGTERM, grace / 2)):
        if sig is not None:
            signalled = _signal(core, proc, sig, silence)
        silence.restart()
        # Beating (still in its loop, about to see the request) buys time only up to a bound: a
        # stage that beats but never acts on the stop is signalled all the same.
        beat_cap = core._now() + BEATING_GRACE_FACTOR * max(wait_s, 0.05)
        while proc.alive:
            core.wait([proc.sentinel], 0.02)
            if silence.seconds() < wait_s:
                continue
            if sig is None and core._now() < beat_cap and _beating(core, proc):
                continue
            break
        if not proc.alive:
            break
    else:
        signalled = _signal(core, proc, signal.SIGKILL, silence)
        _wait_dead(core, proc)
    code, killed_by = proc.exit_status()
    state = int(row["state"])
    core._reap(proc)
    if signalled is not None and not (code == 0 and state in (st.STOPPED, st.FINISHED)):
        how = signal.Signals(killed_by).name if killed_by else f"exit {code}"
        record_incomplete(core, proc.name, how, state)


def _wait_dead(core, proc) -> None:
    """Until the SIGKILLed process is gone. It cannot refuse, only take long: its teardown needs a
    CPU (seconds on a starved one). Reaping it earlier raised out of the ladder ("cannot close a
    process while it is still running"), ending the supervisor mid-stop without its summary."""
    since = core._now()
    deadline = since + KILL_GRACE_S
    while proc.alive:
        core.wait([proc.sentinel], 0.02)
        if proc.alive and core._now() >= deadline:
            core.runlog.event("kill_slow", proc.name, pid=proc.pid,
                              waited_s=round(core._now() - since, 3))
            deadline = core._now() + KILL_GRACE_S


class Silence:
    """How long a stopping stage has shown no sign of moving, in time it could have shown one.

    The wall time since its progress last changed (or since `restart`), less its run-queue wait
    over that time; none at all while it waits inside a call it declared bounded and the bound has
    not passed. Re-read on every `seconds()`.
    """

    def __init__(self, core, pid: int, row):
        self._core, self._pid, self._row = core, pid, row
        self.restart()

    def restart(self) -> None:
        self._progress = _progress(self._row)
        self._since_s = self._core._now()
        self._wait_ns = self._core.judge.runqueue_wait_ns(self._pid)
        self.since_s = self.starved_s = 0.0

    def seconds(self) -> float:
        if _progress(self._row) != self._progress or self._blocked():
            self.restart()         # the drain moved, or waits on a bounded call: a grace again
            return 0.0
        self.since_s = self._core._now() - self._since_s
        wait = self._core.judge.runqueue_wait_ns(self._pid)
        if wait is not None and self._wait_ns is not None:
            self.starved_s = max(0, wait - self._wait_ns) / 1e9
        return max(0.0, self.since_s - self.starved_s)

    def _blocked(self) -> bool:
        try:
            until = int(self._row["blocked_until_ns"])
        except (KeyError, ValueError, IndexError):   # a row without the field: never blocked
            return False
        return self._core.clock_ns() < until


def _signal(core, proc, sig: int, silence: Silence) -> int:
    core.runlog.event(
        "signal", proc.name, pid=proc.pid, signal=int(sig), reason="no drain progress",
        silent_s=round(silence.seconds(), 3), since_progress_s=round(silence.since_s, 3),
        starved_s=round(silence.starved_s, 3),
    )
    proc.send(sig)
    return sig


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
