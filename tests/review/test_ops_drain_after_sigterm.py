"""The stop ladder after SIGTERM: a drain that moves again is still SIGKILLed (issue 11.7).

README "Stopping, and one instance": "A stopping stage is never killed while its drain makes
progress". A real stage's SIGTERM only sets its stop flag, so after one slow unit of drain work (a
broker call longer than stop_grace_ms, e.g. orders' stop-time flatten waiting on the broker) it goes
on draining and reporting progress. stopladder.stop_one extends the deadline on progress only in its
first phase (`if sig is None`): once SIGTERM has been sent, the SIGKILL follows grace/2 later
however the drain moves.
"""

import signal

from supervision.core import EXIT_OK
from tests.supervision.fakes import NS
from tests.supervision.test_drain import DrainingWorld, _run


class PausingWorld(DrainingWorld):
    """A drain with one slow unit: no progress (and no beat) between `pause_from_s` and `pause_to_s`
    of the drain, then progress every `every_s` again until `drain_s`."""

    def _step_stages(self):
        for name, stage in self.procs.items():
            proc = stage.proc
            if proc is None or proc.exitcode is not None:
                continue
            began = proc.behaviour.get("drain_began")
            pause = proc.behaviour.get("pause")
            if began is None or pause is None:
                continue
            elapsed = (self.now_ns - began) / NS
            if pause[0] <= elapsed < pause[1]:
                # the slow call: the unit counter is frozen, so the base step bumps nothing
                proc.behaviour["units"] = max(
                    proc.behaviour.get("units", -1), int(pause[1] / proc.behaviour["every_s"])
                )
        super()._step_stages()


def test_stop_when_one_drain_unit_outlasts_the_grace_and_the_drain_then_moves_again_then_it_is_not_killed():  # noqa: E501 - the name is the test's sentence
    world = PausingWorld()
    # 8 s of drain, progress every 0.25 s, but one unit (a slow broker call) takes 2.5 s >
    # stop_grace 2 s.
    core, outcome = _run(world, drain_s=8.0, every_s=0.25, pause=(1.0, 3.5))
    signals = [e["signal"] for e in world.runlog.of("signal", "orders")]
    # SIGTERM after a whole grace without progress is the documented rule ...
    assert signals[:1] == [int(signal.SIGTERM)], world.runlog.events
    # ... but the drain moved again after it, so no SIGKILL and a complete drain.
    assert int(signal.SIGKILL) not in signals, signals
    assert outcome.drain == [] and outcome.exit_code == EXIT_OK, outcome


def test_stop_when_a_drain_progresses_steadily_past_several_graces_then_no_signal_is_sent():
    """Coverage for the holding part: 9 s of drain with progress every 0.25 s is never signalled."""
    world = PausingWorld()
    core, outcome = _run(world, drain_s=9.0, every_s=0.25)
    assert world.runlog.of("signal", "orders") == []
    assert outcome.exit_code == EXIT_OK and outcome.drain == []
