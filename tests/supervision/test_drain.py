"""The stop drain finishes or says it did not (issue 11.7), on the fake clock of
tests/supervision/fakes.py.

At the end of a replay under load orders was SIGKILLed in its drain: its grace was extended only
while its heartbeat was younger than a quarter of the hang timeout, it beat once per 4,096-tick
batch, and the run still exited 0. Now progress decides, and a stage killed anyway makes the exit
code say so.
"""

import signal
from types import SimpleNamespace

from common import stagetable as st
from supervision.core import EXIT_DRAIN_INCOMPLETE, EXIT_HALTED, EXIT_OK, Limits
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


def _run(world, **orders_behaviour):
    procs = world.stages(*STAGES)
    world.next_spawn("orders", ready_after_s=0.01, **orders_behaviour)
    core = world.core(procs, limits())
    core.ring = FakeRing()
    return core, core.run()


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
