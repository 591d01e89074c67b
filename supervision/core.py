"""The supervisor's engine: start stages in order, watch, restart, stop.

Semantics follow circus and Erlang/OTP supervisors:
- the supervisor owns every shared-memory segment (stages only attach), so a stage crash never loses
  the ring, cursors, indicator state or heartbeats;
- consumers start first (positions, orders, signals, feed), each only after the previous is READY;
  stops run in reverse through one ladder: stop request, grace, SIGTERM, grace, SIGKILL;
- deaths are seen through process sentinels and reaped in one place (`_reap`); hangs through the
  heartbeat in the stage table, judged by `hang.HangJudge` (a stage starved of CPU is not hung);
- restarts follow a RestartPolicy per stage; giving up on `feed` or `orders` halts trading and ends
  the run with exit code 3 (unless the config says to stay up degraded). The halt is recorded in the
  stage table's control row (the status shows it) and ordered through `halt`
  (supervision/commands.StandingHalt: a command to orders, sent again until orders acknowledges it).

Every stage is a small state machine checked on every pass of one watch loop (`_pass`): down with a
restart due, starting (spawned, READY by its own start-up deadline or killed), or READY (heartbeat
watched). No pass ever waits on one stage, so a stage that hangs while (re)starting never hides a
death or a hang of another (issue 12.10). The clock and the wait are injected for the unit tests.

A run log that cannot be written (a full disk) never stops the supervisor's judgement: it halts
trading, stops the stages through the ladder and ends the run with EXIT_LOG_FAILED (issue 12.4).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_sentinels

from common import stagetable as st
from common.clock import mono_ns
from common.tradingstate import TradingState
from supervision.commands import StandingHalt
from supervision.entry import STAGE_FATAL_EXIT, read_fatal
from supervision.hang import HangJudge
from supervision.process import StageProcess
from supervision.stopladder import stop_one

EXIT_OK, EXIT_CONFIG, EXIT_HALTED, EXIT_LOG_FAILED = 0, 2, 3, 4
# 5: stopped with orders working or positions open at a broker (summary.json `left_at_broker`);
# 6: a stage was killed before its stop drain ended (summary.json `drain`). Issue 11.3 and 11.7.
EXIT_LEFT_AT_BROKER, EXIT_DRAIN_INCOMPLETE = 5, 6
CRITICAL = ("feed", "orders")
PASS_S = 0.02          # longest wait of one pass when nothing happens
STARTING_POLL_S = 0.002  # while a stage is starting: READY is seen within this
# A restarted stage's next spare (supervision/spare.py) is forked this long after it is READY, in a
# pass where no stage is starting: at once, so that it is parked before another stage dies (a
# spare forked while a restart runs would take the CPU that restart needs).
SPARE_DELAY_S = 0.0


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
    drain: list = field(default_factory=list)      # stages killed before their stop drain ended


def wait_any(sentinels, timeout: float) -> None:
    """Return when one of the process sentinels is ready or after `timeout` s."""
    if sentinels:
        wait_sentinels(sentinels, timeout=timeout)
    else:
        time.sleep(timeout)


class SupervisorCore:
    def __init__(
        self,
        procs: list[StageProcess],
        table: st.StageTable,
        runlog,
        limits: Limits,
        on_status=None,
        *,
        clock_ns=mono_ns,
        wait=wait_any,
        judge: HangJudge | None = None,
    ):
        self.procs = procs                      # in start order
        self.by_name = {p.name: p for p in procs}
        self.table = table
        self.runlog = runlog
        self.limits = limits
        self.on_status = on_status              # called about every 100 ms with no arguments
        self.clock_ns = clock_ns                # the stages' heartbeat clock (common.clock.mono_ns)
        self.wait = wait                        # wait(sentinels, timeout_s)
        self.judge = judge or HangJudge(limits.heartbeat_timeout_s)
        self.outcome = Outcome()
        self._stop_reason: str | None = None
        self._running = False                   # every stage was READY once: start-up is over
        self._started_at = self._now()
        self._feed_finished = False
        self._log_failed = False
        self._last_status = 0.0
        # the tick ring (set by the launcher): what a drain left
        self.ring = None
        # the supervisor's halt as a command to orders (set by the session; None in unit tests)
        self.halt: StandingHalt | None = None

    def _now(self) -> float:
        return self.clock_ns() / 1e9

    # -- public -------------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason

    def run(self) -> Outcome:
        try:
            if self._start_all():
                self._watch()
        finally:
            self._stop_all()
        self._check_runlog()     # a write that failed while stopping still decides the exit code
        if self.outcome.drain and self.outcome.exit_code == EXIT_OK:
            names = ", ".join(d["stage"] for d in self.outcome.drain)
            self.outcome.exit_code = EXIT_DRAIN_INCOMPLETE
            self.outcome.reason = (
                f"{self.outcome.reason}; drain incomplete: {names} killed while stopping"
            )
        return self.outcome

    def drain_left(self, name: str) -> dict:
        """What a stage killed in its drain left undone: the ticks of the ring it had not
        applied."""
        if self.ring is None:
            return {}
        for info in self.ring.readers():
            if info.name == name:
                return {
                    "ticks_not_applied": max(0, int(self.ring.published) - int(info.cursor) + 1),
                    "ring_cursor": int(info.cursor),
                    "ring_published": int(self.ring.published),
                }
        return {}

    # -- start ------------------------------------------------------------------------------
    def _start_all(self) -> bool:
        for proc in self.procs:
            self._spawn(proc, "start")
            while not proc.became_ready and self._stop_reason is None:
                self._pass()
            if self._stop_reason is not None:
                self.outcome.reason = self._stop_reason
                return False
        self.runlog.event("running", "", stages=[p.name for p in self.procs])
        self._running = True
        for proc in self.procs:
            proc.spare_due = self._now()
        self._started_at = self._now()    # --duration counts trading time, not start-up
        return True

    def _spawn(self, proc: StageProcess, why: str) -> None:
        row = self.table.row(proc.name)
        row["stop_requested"] = 0
        row["state"] = st.NONE
        row["blocked_until_ns"] = 0        # the last life's exit (StageRuntime.leave) is over
        # "alive as of its spawn": a peer reading the row sees no gap
        row["heartbeat_ns"] = self.clock_ns()
        self.judge.forget(proc.name)
        pid = proc.spawn()
        proc.ready_deadline = self._now() + self.limits.ready_timeout_s
        self.runlog.event("spawn", proc.name, pid=pid, cores=list(proc.stage_ctx.cores),
                          restarts=proc.restarts, reason=why, spare=proc.from_spare)

    def _record_ready(self, proc: StageProcess) -> None:
        proc.ready_deadline = None
        proc.became_ready = True
        if self._running:
            proc.spare_due = self._now() + SPARE_DELAY_S
        affinity = proc.affinity()
        row = self.table.row(proc.name)
        ready_ms = (int(row["ready_ns"]) - int(row["started_ns"])) / 1e6
        self.runlog.event(
            "ready",
            proc.name,
            pid=proc.pid,
            cores=affinity,
            expected_cores=list(proc.stage_ctx.cores),
            pinned=affinity == sorted(proc.stage_ctx.cores),
            startup_ms=round(ready_ms, 3),
            restarts=proc.restarts,
        )

    # -- watch --------------------------------------------------------------------------------
    def _watch(self) -> None:
        while self._stop_reason is None:
            self._pass()
            if self._stop_reason:
                break
            if self._feed_finished:
                self.request_stop("feed finished")
            if self.limits.duration_s and self._now() - self._started_at >= self.limits.duration_s:
                self.request_stop("duration reached")
        self.outcome.reason = self._stop_reason or self.outcome.reason

    def _pass(self) -> None:
        """One pass over every stage: wait for a death (or a short while), then check each one."""
        now = self._now()
        timeout = PASS_S
        for proc in self.procs:
            if proc.starting:
                timeout = STARTING_POLL_S
            elif proc.proc is None and proc.restart_due is not None:
                timeout = min(timeout, max(0.0, proc.restart_due - now))
        self.wait([p.sentinel for p in self.procs if p.alive], timeout)
        for proc in self.procs:
            self._check(proc)
        self._park_spare()
        self._check_runlog()
        if self.halt is not None:
            self.halt.poll()
        now = self._now()
        if self.on_status and now - self._last_status >= 0.1:
            self._last_status = now
            self.on_status()

    def _check(self, proc: StageProcess) -> None:
        if proc.gave_up:
            return
        if proc.proc is not None and not proc.alive:
            self._on_exit(proc)            # reaped here; a restart due now is spawned just below
        if proc.gave_up or self._stop_reason:
            return
        now = self._now()
        if proc.proc is None:
            if proc.restart_due is not None and now >= proc.restart_due:
                self._spawn(proc, "restart")
            return
        if proc.kill_reason:               # killed, not reaped yet: the next pass sees it gone
            return
        row = self.table.row(proc.name)
        state = int(row["state"])
        if proc.starting and proc.ready_deadline is not None:     # starting: it has one
            if state in (st.READY, st.FINISHED):
                self._record_ready(proc)
            elif now > proc.ready_deadline:
                self._kill(proc, "not ready, killed", "not_ready",
                           reason=f"not READY within {self.limits.ready_timeout_s:g}s of its spawn")
            return
        if state == st.READY:
            verdict = self.judge.judge(
                proc.name, proc.pid, int(row["heartbeat_ns"]), self.clock_ns(),
                int(row["blocked_until_ns"]),
            )
            if verdict.hung:
                proc.killed_as_hung = True
                self._kill(proc, "hung, killed", "hang", reason=verdict.describe())

    def _park_spare(self) -> None:
        """Fork one due spare (supervision/spare.py), never while a stage is starting: the fork
        would take the CPU that start needs. A spare that cannot be forked is logged; the next
        restart of that stage forks as it did without spares."""
        if self._stop_reason or any(p.starting for p in self.procs):
            return
        now = self._now()
        for proc in self.procs:
            if proc.spare_due is None or now < proc.spare_due or proc.gave_up:
                continue
            proc.spare_due = None
            try:
                proc.park_spare()
            except OSError as e:
                self.runlog.event("spare_failed", proc.name, reason=str(e))
                return
            if proc.spare is not None:
                self.runlog.event("spare", proc.name, pid=proc.spare.pid)
            return

    def _kill(self, proc: StageProcess, exit_reason: str, kind: str, reason: str) -> None:
        self.runlog.event(
            kind, proc.name, pid=proc.pid, cores=list(proc.stage_ctx.cores), reason=reason
        )
        proc.kill_reason = exit_reason
        proc.kill()

    def _on_exit(self, proc: StageProcess) -> None:
        finished = int(self.table.row(proc.name)["state"]) == st.FINISHED
        code, _ = proc.exit_status()
        self._reap(proc)
        if finished and proc.name == "feed":
            self._feed_finished = True
            return
        if code == STAGE_FATAL_EXIT:       # a config/input error: a restart would fail the same way
            cause = read_fatal(proc.stage_ctx.run_dir, proc.name) or "configuration or input error"
            self._give_up(proc, f"cannot run: {cause}")
            return
        if not self._schedule_restart(proc):
            self._give_up(proc, "restart limit exceeded")

    def _reap(self, proc: StageProcess) -> None:
        code, sig = proc.exit_status()
        pid = proc.pid
        proc.reap()
        proc.ready_deadline = None
        reason = proc.kill_reason or ("signal" if sig else "exit")
        self.runlog.event(
            "exit",
            proc.name,
            pid=pid,
            cores=list(proc.stage_ctx.cores),
            exit_code=code,
            signal=sig,
            reason=reason,
        )

    def _schedule_restart(self, proc: StageProcess) -> bool:
        now = self._now()
        decision = proc.policy.on_death(now)
        if not decision.restart:
            self.runlog.event("restart_denied", proc.name, reason=decision.reason)
            return False
        proc.restarts += 1
        proc.restart_due = now + decision.delay_s
        self.runlog.event(
            "restart",
            proc.name,
            cores=list(proc.stage_ctx.cores),
            delay_ms=round(decision.delay_s * 1e3, 3),
            restarts=proc.restarts,
            reason=decision.reason,
        )
        return True

    def _give_up(self, proc: StageProcess, reason: str) -> None:
        proc.gave_up = True
        proc.restart_due = None
        proc.drop_spare()
        self.outcome.gave_up.append(proc.name)
        critical = proc.name in CRITICAL
        self.runlog.event("give_up", proc.name, reason=reason, halts_trading=critical)
        if critical:
            self._halt_trading(1, f"gave up on {proc.name}: {reason}")
            self.runlog.event("trading_halted", proc.name, reason=f"gave up on {proc.name}")
        if not self._running:
            # The pipeline cannot start without every stage: halt, whichever stage it was.
            self.outcome.exit_code = EXIT_HALTED
            self.request_stop(f"{proc.name} did not become ready: {reason}")
        elif critical and not self.limits.stay_up_degraded:
            self.outcome.exit_code = EXIT_HALTED
            self.request_stop(f"gave up on {proc.name}: {reason}")

    def _halt_trading(self, code: int, why: str) -> None:
        """No new entries; working exits that protect open positions stay. The control row records
        it for the status; orders hears it as a command until it acknowledges it."""
        self.table.set_trading_state(TradingState.HALTED, reason=code)
        if self.halt is not None:
            self.halt.order(why)

    def _check_runlog(self) -> None:
        """A run log we cannot write: halt trading and stop in order, once (issue 12.4)."""
        failure = self.runlog.failure
        if failure is None:
            return
        message = f"cannot write {self.runlog.path}: {failure}"
        if not self._log_failed:
            self._log_failed = True
            self._halt_trading(2, message)
            self.request_stop(message)
        # the first failure keeps its code
        if self.outcome.exit_code in (EXIT_OK, EXIT_LOG_FAILED):
            self.outcome.exit_code = EXIT_LOG_FAILED
            self.outcome.reason = message
        elif message not in self.outcome.reason:
            self.outcome.reason = f"{self.outcome.reason}; then {message}"

    # -- stop ---------------------------------------------------------------------------------
    def _stop_all(self) -> None:
        failed = None
        for proc in self.procs:          # parked spares first: none may start from here on
            proc.spare_due = None
            try:
                proc.drop_spare()
            except Exception as e:  # noqa: BLE001 - every stage must be stopped, whatever this did
                failed = failed or e
        for proc in reversed(self.procs):
            try:
                stop_one(self, proc)
            except Exception as e:  # noqa: BLE001 - every stage must be stopped, whatever one did
                proc.kill()
                failed = failed or e
        if failed is not None:
            raise failed
