"""The supervisor's engine: create the run's shared state, start stages in order, watch, restart, stop.

Semantics follow circus and Erlang/OTP supervisors:
- the supervisor owns every shared-memory segment (stages only attach), so a stage crash never loses
  the ring, cursors, indicator state or heartbeats;
- consumers start first (positions, orders, signals, feed), each only after the previous is READY;
  stops run in reverse through one ladder: stop request, grace, SIGTERM, grace, SIGKILL;
- deaths are seen through process sentinels and reaped in one place (`_reap`); hangs through the
  heartbeat in the stage table;
- restarts follow a RestartPolicy per stage; giving up on `feed` or `orders` halts trading and ends
  the run with exit code 3 (unless the config says to stay up degraded).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_sentinels

from common import stagetable as st
from common.clock import mono_ns
from common.supervision.process import StageProcess

EXIT_OK, EXIT_CONFIG, EXIT_HALTED = 0, 2, 3
CRITICAL = ("feed", "orders")


@dataclass
class StageSpec:
    name: str
    module: str
    cores: tuple[int, ...]
    stage_ctx: object = None


@dataclass
class Limits:
    heartbeat_timeout_s: float
    ready_timeout_s: float
    stop_grace_s: float
    stay_up_degraded: bool
    duration_s: float | None


@dataclass
class Outcome:
    exit_code: int = EXIT_OK
    reason: str = "stopped"
    gave_up: list = field(default_factory=list)


class SupervisorCore:
    def __init__(self, procs: list[StageProcess], table: st.StageTable, runlog, limits: Limits, on_status=None):
        self.procs = procs                      # in start order
        self.by_name = {p.name: p for p in procs}
        self.table = table
        self.runlog = runlog
        self.limits = limits
        self.on_status = on_status              # called about every 100 ms with no arguments
        self.outcome = Outcome()
        self._stop_reason: str | None = None
        self._started_at = time.monotonic()
        self._feed_finished = False

    # -- public -------------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason

    def run(self) -> Outcome:
        try:
            if not self._start_all():
                return self.outcome
            self._watch()
        finally:
            self._stop_all()
        return self.outcome

    # -- start ------------------------------------------------------------------------------
    def _start_all(self) -> bool:
        for proc in self.procs:
            self._spawn(proc, "start")
            if not self._await_ready(proc):
                if self._stop_reason:          # Ctrl-C during start-up: a normal stop
                    self.outcome.reason = self._stop_reason
                    return False
                # The pipeline cannot run without every stage: halt, whichever stage it was.
                self._give_up(proc, "did not become ready")
                self.outcome.exit_code = EXIT_HALTED
                self.outcome.reason = f"{proc.name} did not become ready"
                return False
        self.runlog.event("running", "", stages=[p.name for p in self.procs])
        self._started_at = time.monotonic()    # --duration counts trading time, not start-up
        return True

    def _spawn(self, proc: StageProcess, why: str) -> None:
        row = self.table.row(proc.name)
        row["stop_requested"] = 0
        row["state"] = st.NONE
        row["heartbeat_ns"] = mono_ns()   # "alive as of its spawn": a peer reading the row sees no gap
        pid = proc.spawn()
        self.runlog.event("spawn", proc.name, pid=pid, cores=list(proc.stage_ctx.cores),
                          restarts=proc.restarts, reason=why)

    def _await_ready(self, proc: StageProcess) -> bool:
        deadline = time.monotonic() + self.limits.ready_timeout_s
        while time.monotonic() < deadline:
            if self._stop_reason:
                return False
            row = self.table.row(proc.name)
            if int(row["state"]) in (st.READY, st.FINISHED):
                self._record_ready(proc)
                return True
            if not proc.alive:
                self._reap(proc)
                if not self._schedule_restart(proc):
                    return False
                self._wait_until(proc.restart_due)
                self._spawn(proc, "restart")
                continue
            wait_sentinels([proc.sentinel], timeout=0.002)
        return False

    def _record_ready(self, proc: StageProcess) -> None:
        affinity = proc.affinity()
        ready_ms = (int(self.table.row(proc.name)["ready_ns"]) - int(self.table.row(proc.name)["started_ns"])) / 1e6
        self.runlog.event("ready", proc.name, pid=proc.pid, cores=affinity, expected_cores=list(proc.stage_ctx.cores),
                          pinned=affinity == sorted(proc.stage_ctx.cores), startup_ms=round(ready_ms, 3),
                          restarts=proc.restarts)

    def _wait_until(self, when: float | None) -> None:
        while when is not None and time.monotonic() < when and not self._stop_reason:
            time.sleep(min(0.005, max(0.0, when - time.monotonic())))

    # -- watch --------------------------------------------------------------------------------
    def _watch(self) -> None:
        last_status = 0.0
        while self._stop_reason is None:
            sentinels = [p.sentinel for p in self.procs if p.alive]
            wait_sentinels(sentinels, timeout=0.02) if sentinels else time.sleep(0.02)
            now = time.monotonic()
            for proc in self.procs:
                self._check(proc, now)
            if self._stop_reason:
                break
            if self._feed_finished:
                self.request_stop("feed finished")
            if self.limits.duration_s and now - self._started_at >= self.limits.duration_s:
                self.request_stop("duration reached")
            if self.on_status and now - last_status >= 0.1:
                last_status = now
                self.on_status()
        self.outcome.reason = self._stop_reason or self.outcome.reason

    def _check(self, proc: StageProcess, now: float) -> None:
        if proc.gave_up:
            return
        if proc.proc is not None and not proc.alive:
            self._on_exit(proc)            # reaped here; a restart due now is spawned just below
            now = time.monotonic()
        if proc.gave_up:
            return
        if proc.proc is None:
            if proc.restart_due is not None and now >= proc.restart_due:
                self._spawn(proc, "restart")
                if self._await_ready(proc) is False and not self._stop_reason:
                    self._give_up(proc, "not ready after restart")
            return
        row = self.table.row(proc.name)
        state = int(row["state"])
        if state == st.READY:
            age_s = (mono_ns() - int(row["heartbeat_ns"])) / 1e9
            if age_s > self.limits.heartbeat_timeout_s:
                self.runlog.event("hang", proc.name, pid=proc.pid, cores=list(proc.stage_ctx.cores),
                                  reason=f"no heartbeat for {age_s:.3f}s")
                proc.killed_as_hung = True
                proc.kill()

    def _on_exit(self, proc: StageProcess) -> None:
        finished = int(self.table.row(proc.name)["state"]) == st.FINISHED
        self._reap(proc)
        if finished and proc.name == "feed":
            self._feed_finished = True
            return
        if not self._schedule_restart(proc):
            self._give_up(proc, "restart limit exceeded")

    def _reap(self, proc: StageProcess) -> None:
        code, sig = proc.exit_status()
        pid = proc.pid
        proc.reap()
        reason = "hung, killed" if proc.killed_as_hung else ("signal" if sig else "exit")
        self.runlog.event("exit", proc.name, pid=pid, cores=list(proc.stage_ctx.cores), exit_code=code,
                          signal=sig, reason=reason)

    def _schedule_restart(self, proc: StageProcess) -> bool:
        decision = proc.policy.on_death(time.monotonic())
        if not decision.restart:
            self.runlog.event("restart_denied", proc.name, reason=decision.reason)
            return False
        proc.restarts += 1
        proc.restart_due = time.monotonic() + decision.delay_s
        self.runlog.event("restart", proc.name, cores=list(proc.stage_ctx.cores), delay_ms=round(decision.delay_s * 1e3, 3),
                          restarts=proc.restarts, reason=decision.reason)
        return True

    def _give_up(self, proc: StageProcess, reason: str) -> None:
        proc.gave_up = True
        proc.restart_due = None
        self.outcome.gave_up.append(proc.name)
        halts = proc.name in CRITICAL and not self.limits.stay_up_degraded
        self.runlog.event("give_up", proc.name, reason=reason, halts_trading=proc.name in CRITICAL)
        if proc.name in CRITICAL:
            # No new entries; working exits that protect open positions stay (orders reads this).
            self.table.set_trading_state(st.HALTED, reason=1)
            self.runlog.event("trading_halted", proc.name, reason=f"gave up on {proc.name}")
        if halts:
            self.outcome.exit_code = EXIT_HALTED
            self.request_stop(f"gave up on {proc.name}: {reason}")

    # -- stop ---------------------------------------------------------------------------------
    def _stop_all(self) -> None:
        for proc in reversed(self.procs):
            self._stop_one(proc)

    def _stop_one(self, proc: StageProcess) -> None:
        proc.restart_due = None
        if proc.proc is None:
            return
        if not proc.alive:
            self._reap(proc)
            return
        self.runlog.event("stopping", proc.name, pid=proc.pid)
        self.table.row(proc.name)["stop_requested"] = 1
        ladder = ((None, self.limits.stop_grace_s), (signal.SIGTERM, self.limits.stop_grace_s / 2),
                  (signal.SIGKILL, 5.0))
        for sig, grace in ladder:
            if sig is not None:
                self.runlog.event("signal", proc.name, pid=proc.pid, signal=int(sig))
                proc.send(sig)
            # A stage that is draining keeps beating; give it its grace from the last beat.
            deadline = time.monotonic() + grace
            while proc.alive and time.monotonic() < deadline:
                wait_sentinels([proc.sentinel], timeout=0.02)
                if sig is None and self._beating(proc):
                    deadline = max(deadline, time.monotonic() + 0.05)
            if not proc.alive:
                break
        self._reap(proc)

    def _beating(self, proc: StageProcess) -> bool:
        age_s = (mono_ns() - int(self.table.row(proc.name)["heartbeat_ns"])) / 1e9
        return age_s < self.limits.heartbeat_timeout_s / 4
