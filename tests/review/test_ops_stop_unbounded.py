"""The stop ladder's first phase has no upper bound for a stage that beats but neither progresses
nor exits (supervision/stopladder.py), on the fake clock of tests/supervision/fakes.py.

README "Stopping, and one instance": "only a stage with no progress for a whole `stop_grace_ms` is
signalled". stop_one extends the first phase's deadline by 50 ms on every pass while the stage's
heartbeat is young (`_beating`: "still in its loop, about to see the request"), with no limit: a
stage whose loop keeps beating but never acts on the stop request (a bug, or a drain waiting in a
beating loop) is never signalled and the supervisor never finishes stopping. A second Ctrl-C is
ignored by design, so the operator's only way out is SIGKILL of the supervisor — the stop policy
never runs.
"""

from tests.supervision.fakes import World
from tests.supervision.test_drain import STAGES, limits

BOUND_S = 600.0       # fake seconds: far beyond every grace of the ladder (2 s + 1 s + 5 s)


class StillStopping(Exception):
    pass


class BeatsForever(World):
    """Stages with `beats_forever`: once asked to stop, they go on beating and never exit."""

    def _step_stages(self):
        if self.now_s - self.t0 > BOUND_S:
            raise StillStopping()
        for name, stage in self.procs.items():
            proc, row = stage.proc, self.table.row(name)
            if proc is not None and proc.exitcode is None and proc.behaviour.get("beats_forever") \
                    and row["stop_requested"]:
                # the base world beats it and does not stop it
                row["stop_requested"], row["_asked"] = 0, 1
        super()._step_stages()
        for name in self.procs:
            row = self.table.row(name)
            if row.pop("_asked", 0):
                row["stop_requested"] = 1


def test_stop_when_a_stage_beats_but_never_acts_on_the_stop_then_it_is_signalled_and_the_stop_ends():  # noqa: E501 - the name is the test's sentence
    world = BeatsForever()
    world.t0 = world.now_s
    procs = world.stages(*STAGES)
    world.next_spawn("orders", ready_after_s=0.01, beats_forever=True)
    core = world.core(procs, limits())
    try:
        outcome = core.run()
    except StillStopping:
        outcome = None
    assert outcome is not None, (
        f"still stopping after {BOUND_S:g} s; signals sent: {world.runlog.of('signal', 'orders')}"
    )
    assert world.runlog.of("signal", "orders")
