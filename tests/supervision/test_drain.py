"""The stop drain finishes or says it did not (issue 11.7), on the fake clock of
tests/supervision/fakes.py.

At the end of a replay under load orders was SIGKILLed in its drain: its grace was extended only
while its heartbeat was younger than a quarter of the hang timeout, it beat once per 4,096-tick
batch, and the run still exited 0. Now progress decides, and a stage killed anyway makes the exit
code say so.

Then orders was SIGKILLed in its stop's flatten on a loaded box (exit 6, its orders left working at
the broker): one unit of its work outlasted the grace by the clock. The grace is now spent only in
silence: not while the stage waits for a CPU, nor while it waits inside a call it declared bounded
(a broker request), until that bound.
"""

import signal
from types import SimpleNamespace

from common import stagetable as st
from supervision.core import EXIT_DRAIN_INCOMPLETE, EXIT_HALTED, EXIT_OK, Limits
from supervision.hang import HangJudge
from tests.supervision.fakes import NS, World

STAGES = ("positions", "orders", "signals", "feed")


class DrainingWorld(World):
    """Stages that, once asked to stop, drain for `drain_s` reporting progress every `every_s`
    (beating only then), or stall (`stall_after_s`: no progress, SIGTERM ignored, as a stuck
    drain)."""

    def stages(self, *names, **kw):
        procs = super().stages(*names, **kw)
        for row in self.table.rows.values():
            row["progress"] = 0
        return procs

    def signal(self, proc, sig):
        if sig == signal.SIGTERM and proc.behaviour.get("drain_s") is not None:
            # a real stage's SIGTERM only sets its stop flag: the drain goes on
            return
        super().signal(proc, sig)

    def _step_stages(self):
        for name, stage in self.procs.items():
            proc, row = stage.proc, self.table.row(name)
            drain = proc.behaviour.get("drain_s") if proc is not None else None
            if drain is None or proc.exitcode is not None or not row["stop_requested"]:
                continue
            began = proc.behaviour.setdefault("drain_began", self.now_ns)
            elapsed = (self.now_ns - began) / NS
            stall = proc.behaviour.get("stall_after_s")
            if stall is not None and elapsed >= stall:
                proc.behaviour["held"] = True   # stuck: no progress, no beat, SIGTERM ignored
                continue
            if elapsed >= drain:
                row["state"], proc.exitcode = st.STOPPED, 0
                continue
            done = int(elapsed / proc.behaviour["every_s"])
            if done > proc.behaviour.get("units", -1):
                proc.behaviour["units"] = done
                row["progress"] += 1
                row["heartbeat_ns"] = self.now_ns
            # keep the base world from stopping it at once (and beating)...
            row["stop_requested"] = 0
            row["_asked"] = row["heartbeat_ns"]
        super()._step_stages()
        # ...and restore the request the ladder made, and its last beat
        for name in self.procs:
            row = self.table.row(name)
            if "_asked" in row:
                row["heartbeat_ns"], row["stop_requested"] = row.pop("_asked"), 1


class FakeRing:
    published = 100_000

    def readers(self):
        return [
            SimpleNamespace(name="orders", cursor=82_383),
            SimpleNamespace(name="signals", cursor=100_001),
        ]


def limits(**over):
    base = dict(
        heartbeat_timeout_s=1.0,
        ready_timeout_s=5.0,
        stop_grace_s=2.0,
        stay_up_degraded=False,
        duration_s=1.0,
    )
    return Limits(**{**base, **over})


class SlowUnitWorld(DrainingWorld):
    """A drain with one slow unit, `slow=(from_s, to_s, how)` into the drain: no progress and no
    beat meanwhile, the stage being
    - "starved": runnable the whole time, waiting for a CPU (its run-queue wait grows with the
      clock, as /proc/<pid>/schedstat would show);
    - "half-starved": running half the time without reporting (a loop that never reports, on a busy
      box): its run-queue wait grows at half the clock's rate;
    - "blocked": inside a call it declared bounded for `bound_s` (a broker request);
    - "stuck": none of these (a hang)."""

    def __init__(self):
        super().__init__()
        self.waited_ns: dict[int, int] = {}     # pid -> run-queue wait so far

    def runqueue_wait_ns(self, pid):
        return self.waited_ns.get(pid, 0)

    def _step_stages(self):
        for name, stage in self.procs.items():
            proc = stage.proc
            if proc is None or proc.exitcode is not None:
                continue
            began, slow = proc.behaviour.get("drain_began"), proc.behaviour.get("slow")
            if began is None or slow is None:
                continue
            start, end, how = slow
            elapsed = (self.now_ns - began) / NS
            inside = start <= elapsed < end
            if inside:     # the unit counter frozen: the base step bumps nothing
                proc.behaviour["units"] = max(
                    proc.behaviour.get("units", -1), int(end / proc.behaviour["every_s"])
                )
            spent_ns = int((min(elapsed, end) - start) * NS) if elapsed >= start else 0
            if how == "starved":
                self.waited_ns[proc.pid] = spent_ns
            elif how == "half-starved":
                self.waited_ns[proc.pid] = spent_ns // 2
            elif how == "blocked":
                bound_ns = int(proc.behaviour["bound_s"] * NS)
                self.table.row(name)["blocked_until_ns"] = (
                    began + int(start * NS) + bound_ns if inside else 0
                )
        super()._step_stages()


def _run(world, **orders_behaviour):
    procs = world.stages(*STAGES)
    world.next_spawn("orders", ready_after_s=0.01, **orders_behaviour)
    lim = limits()
    reader = getattr(world, "runqueue_wait_ns", lambda pid: None)
    core = world.core(procs, lim, judge=HangJudge(lim.heartbeat_timeout_s, reader))
    core.ring = FakeRing()
    return core, core.run()


def _signals(world) -> list[dict]:
    return world.runlog.of("signal", "orders")


def test_stop_when_a_draining_stage_progresses_slower_than_its_heartbeat_rule_then_it_is_never_signalled():  # noqa: E501 - the name is the test's sentence
    world = DrainingWorld()
    # 12 s of drain, one unit of progress (and one beat) every 1.5 s: older than heartbeat_timeout/4
    # between units, so the old rule signalled it 2 s into the drain.
    core, outcome = _run(world, drain_s=12.0, every_s=1.5)
    assert outcome.exit_code == EXIT_OK, outcome
    assert not [e for e in world.runlog.events if e["kind"] == "signal"], world.runlog.events
    assert outcome.drain == []


def test_stop_when_a_drain_stalls_then_it_is_killed_the_run_exits_6_and_says_what_was_left():
    world = DrainingWorld()
    core, outcome = _run(world, drain_s=60.0, every_s=0.5, stall_after_s=3.0)
    assert outcome.exit_code == EXIT_DRAIN_INCOMPLETE, outcome
    assert "drain incomplete: orders" in outcome.reason
    [entry] = outcome.drain
    assert entry["stage"] == "orders" and entry["ended_by"] == "SIGKILL"
    assert entry["ticks_not_applied"] == 100_000 - 82_383 + 1
    signals = [e["signal"] for e in world.runlog.of("signal", "orders")]
    assert signals == [int(signal.SIGTERM), int(signal.SIGKILL)]
    [logged] = world.runlog.of("drain_incomplete", "orders")
    assert logged["ticks_not_applied"] == entry["ticks_not_applied"]


def test_stop_when_a_stage_killed_in_its_drain_and_the_run_already_halted_then_the_halt_code_stays():  # noqa: E501 - the name is the test's sentence
    world = DrainingWorld()
    procs = world.stages(*STAGES)
    world.next_spawn("orders", ready_after_s=0.01, drain_s=60.0, every_s=0.5, stall_after_s=1.0)
    world.next_spawn("feed", ready_after_s=0.01)
    world.next_spawn("feed", exit_code=78)   # its restart fails as a config error: gave up, halted
    core = world.core(procs, limits(duration_s=30.0))
    world.at(0.5, lambda: world.kill("feed"))
    outcome = core.run()
    assert outcome.exit_code == EXIT_HALTED
    assert [d["stage"] for d in outcome.drain] == ["orders"]   # still recorded for summary.json


def test_stop_when_a_drain_unit_waits_for_a_cpu_longer_than_the_grace_then_it_is_not_signalled():
    world = SlowUnitWorld()
    # 4 s of one unit on a starved CPU: more than the grace (2 s) and the SIGTERM grace (1 s) by
    # the clock, none of it silence
    core, outcome = _run(world, drain_s=8.0, every_s=0.25, slow=(1.0, 5.0, "starved"))
    assert _signals(world) == [], world.runlog.events
    assert outcome.exit_code == EXIT_OK and outcome.drain == [], outcome


def test_stop_when_a_broker_call_outlasts_the_grace_within_its_bound_then_it_is_not_signalled():
    world = SlowUnitWorld()
    # a stop's cancel answered in 4 s, its bound 14 s (Kite: 7 s connect + 7 s read)
    core, outcome = _run(world, drain_s=8.0, every_s=0.25, slow=(1.0, 5.0, "blocked"), bound_s=14.0)
    assert _signals(world) == [], world.runlog.events
    assert outcome.exit_code == EXIT_OK and outcome.drain == [], outcome


def test_stop_when_a_call_is_stuck_past_its_bound_then_it_is_signalled_a_grace_later_and_killed():
    world = SlowUnitWorld()
    core, outcome = _run(world, drain_s=90.0, every_s=0.25, slow=(1.0, 80.0, "blocked"),
                         bound_s=3.0)
    term, kill = _signals(world)
    assert (term["signal"], kill["signal"]) == (int(signal.SIGTERM), int(signal.SIGKILL))
    [stopping] = world.runlog.of("stopping", "orders")
    # not before the call's bound (from 1 s into the drain) and a whole grace after it
    assert term["t"] - stopping["t"] >= 1.0 + 3.0 + 2.0 - 0.05, (stopping, term)
    assert term["silent_s"] >= 2.0 and term["starved_s"] == 0.0
    assert outcome.exit_code == EXIT_DRAIN_INCOMPLETE, outcome


def test_stop_when_a_stage_loops_without_reporting_on_a_busy_box_then_it_is_still_killed():
    world = SlowUnitWorld()
    # half of the time waiting for a CPU, half running without a report: silent half the time
    core, outcome = _run(world, drain_s=90.0, every_s=0.25, slow=(1.0, 80.0, "half-starved"))
    term, kill = _signals(world)
    assert (term["signal"], kill["signal"]) == (int(signal.SIGTERM), int(signal.SIGKILL))
    # later than on an idle box (the time it waited for a CPU is not silence), but signalled
    assert term["silent_s"] >= 2.0 and term["starved_s"] > 1.0, term
    assert term["since_progress_s"] > 3.0, term
    assert outcome.exit_code == EXIT_DRAIN_INCOMPLETE, outcome


class SlowExitWorld(DrainingWorld):
    """Stages whose process outlives its drain: `exit_s` after leaving its row (STOPPED, its exit
    declared bounded as StageRuntime.leave does), or after a SIGKILL (`dies_s`), it is gone: the
    kernel's teardown of a process on a starved CPU."""

    def signal(self, proc, sig):
        if sig == signal.SIGKILL and proc.behaviour.get("dies_s") is not None:
            proc.behaviour.setdefault("dies_at", self.now_ns + int(proc.behaviour["dies_s"] * NS))
            return
        super().signal(proc, sig)

    def _step_stages(self):
        for name, stage in self.procs.items():
            proc, row = stage.proc, self.table.row(name)
            if proc is None or proc.exitcode is not None:
                continue
            dies_at, left_at = proc.behaviour.get("dies_at"), proc.behaviour.get("left_at")
            if dies_at is not None and self.now_ns >= dies_at:
                proc.exitcode = -signal.SIGKILL
            elif left_at is not None and self.now_ns >= left_at:
                proc.exitcode = 0
        super()._step_stages()
        for name, stage in self.procs.items():
            proc, row = stage.proc, self.table.row(name)
            exit_s = proc.behaviour.get("exit_s") if proc is not None else None
            if exit_s is not None and proc.exitcode == 0 and "left_at" not in proc.behaviour:
                # the base step ended it with its drain: its process lives on for exit_s, doing
                # nothing the base steps would see (held, no drain)
                proc.exitcode, proc.behaviour["drain_s"], proc.behaviour["held"] = None, None, True
                proc.behaviour["left_at"] = self.now_ns + int(exit_s * NS)
                row["blocked_until_ns"] = self.now_ns + 30 * NS


def test_stop_when_a_stage_left_its_row_and_its_process_takes_seconds_to_exit_then_it_is_not_signalled():  # noqa: E501 - the name is the test's sentence
    world = SlowExitWorld()
    core, outcome = _run(world, drain_s=2.0, every_s=0.25, exit_s=10.0)
    assert _signals(world) == [], world.runlog.events
    [stopping], [gone] = world.runlog.of("stopping", "orders"), world.runlog.of("exit", "orders")
    assert gone["t"] - stopping["t"] >= 2.0 + 10.0 - 0.05     # waited for the exit
    assert outcome.exit_code == EXIT_OK and outcome.drain == [], outcome


def test_stop_when_a_killed_stage_takes_seconds_to_die_then_it_is_reaped_once_gone_and_the_stop_goes_on():  # noqa: E501 - the name is the test's sentence
    world = SlowExitWorld()
    core, outcome = _run(world, drain_s=60.0, every_s=0.5, stall_after_s=1.0, dies_s=12.0)
    assert [e["signal"] for e in _signals(world)] == [int(signal.SIGTERM), int(signal.SIGKILL)]
    assert [e["waited_s"] for e in world.runlog.of("kill_slow", "orders")] == [5.0, 10.0]
    [gone] = world.runlog.of("exit", "orders")
    assert gone["signal"] == int(signal.SIGKILL)
    assert outcome.exit_code == EXIT_DRAIN_INCOMPLETE and outcome.drain[0]["stage"] == "orders"
    # the rest of the stop went on: positions, after orders, stopped too
    assert world.runlog.of("exit", "positions")
