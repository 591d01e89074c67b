"""The exit-code table's rule "When several apply, the first failure keeps its code" (README),
against the run-log failure (issue 12.4), on the fake clock of tests/supervision/fakes.py.

SupervisorCore.run() calls _check_runlog() after the stop, and _check_runlog sets EXIT_LOG_FAILED
and its reason unconditionally: a run that had already failed with exit 3 (gave up on orders:
trading halted) and then met a full disk while stopping ends with exit 4, and the give-up's reason
is gone.
"""

import errno

from supervision.core import EXIT_HALTED, EXIT_LOG_FAILED, Limits
from tests.supervision.fakes import FakeRunLog, World

STAGES = ("positions", "orders", "signals", "feed")


class FillsUpWhenStopping(FakeRunLog):
    """A run log whose disk fills as the stop begins (the stop's own events are what fail)."""

    def event(self, kind, stage="", **fields):
        if kind == "stopping" and self.failure is None:
            self.failure = OSError(errno.ENOSPC, "No space left on device")
        return super().event(kind, stage, **fields)


def _limits(**over):
    base = dict(
        heartbeat_timeout_s=1.0,
        ready_timeout_s=5.0,
        stop_grace_s=2.0,
        stay_up_degraded=False,
        duration_s=30.0,
    )
    return Limits(**{**base, **over})


def test_exit_code_when_orders_was_given_up_and_the_disk_fills_while_stopping_then_the_halt_code_stays():  # noqa: E501 - the name is the test's sentence
    world = World()
    procs = world.stages(*STAGES)
    world.next_spawn("orders", ready_after_s=0.01)
    world.next_spawn("orders", exit_code=78)        # its restart fails as a config error: gave up
    core = world.core(procs, _limits(), runlog=FillsUpWhenStopping(lambda: world.now_s))
    world.at(0.5, lambda: world.kill("orders"))
    outcome = core.run()
    assert world.runlog.of("give_up", "orders"), world.runlog.events
    assert outcome.exit_code == EXIT_HALTED, outcome
    assert "gave up on orders" in outcome.reason, outcome.reason


def test_exit_code_when_only_the_disk_fills_while_stopping_then_4():
    """Holds: a run that was fine until its stop's events could not be written exits 4."""
    world = World()
    procs = world.stages(*STAGES)
    core = world.core(
        procs, _limits(duration_s=1.0), runlog=FillsUpWhenStopping(lambda: world.now_s)
    )
    outcome = core.run()
    assert outcome.exit_code == EXIT_LOG_FAILED and "No space left" in outcome.reason, outcome
