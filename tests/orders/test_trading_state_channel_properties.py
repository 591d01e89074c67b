"""The trading-state channel (issue 13) under any interleaving hypothesis draws: the operator's
`ctl halt/resume` (the desk's socket) and the supervisor's standing halt (its loop's socket) are
delivered to orders in any order across the two sockets (each socket in order), orders is killed
(after its journal reached the kernel, or while applying a command, before it did) and restarted
on its journal, and the supervisor's loop polls its halt in between.

Orders is the real command handling of orders/stage.py on a real engine (test_stage_commands'
stage_over); the supervisor side is the real OperatorDesk and StandingHalt sharing one
CommandStamps. A killed orders loses what was queued to it (IMMEDIATE: a dead peer's queue goes
with it). Properties:
- once the supervisor ordered its halt, orders ends HALTED once the sockets are drained and the
  loop has polled (whatever resumes were asked, whenever orders died);
- every `ctl resume` after the halt was ordered is refused, nothing sent.
"""

import os
import tempfile
import types
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.tradingstate import read_state
from supervision.commands import CommandStamps, StandingHalt
from supervision.operator import OperatorDesk
from tests.orders.stubs import Desk
from tests.orders.test_stage_commands import Journal, stage_over

EXAMPLES = int(os.environ.get("OTRADE_PROPERTY_EXAMPLES", "200"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=not os.environ.get("OTRADE_PROPERTY_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow])

steps = st.lists(st.sampled_from(
    ["ctl_halt", "ctl_resume", "supervisor_halts", "deliver_desk", "deliver_halt", "poll",
     "kill", "kill_mid_apply"]), max_size=40)


class Clock:
    def __init__(self, ns: int):
        self.ns = ns

    def __call__(self) -> int:
        self.ns += 1_000_000
        return self.ns


class Orders:
    """One orders process at a time over the same desk directory and journal."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.desk = Desk(str(directory / "desk"))
        self.journal = Journal(self.desk)
        self.stage = self._stage()
        self.up = True
        self.queues: dict[str, list] = {"desk": [], "halt": []}

    def _stage(self):
        stage = stage_over(self.desk, self.dir, self.journal)
        stage.log = types.SimpleNamespace(warning=lambda *a, **k: None)
        return stage

    def push(self, socket: str, msg) -> bool:
        if not self.up:
            return False
        self.queues[socket].append(msg)
        return True

    def deliver(self, socket: str, *, crash: bool = False) -> None:
        if not self.queues[socket]:
            return
        msg = self.queues[socket].pop(0)
        if crash:
            self.stage.commit = self.journal.crash
            try:
                self.stage.on_message(msg)
            except OSError:
                pass
            self.restart()
            return
        self.stage.on_message(msg)

    def restart(self) -> None:
        """SIGKILL and start again on the durable journal: what was queued to it is gone."""
        self.queues = {"desk": [], "halt": []}
        self.desk.restart(self.journal.events())
        self.journal = Journal(self.desk)
        self.journal.commit()
        self.stage = self._stage()


@PROPERTY
@given(steps)
def test_the_supervisors_halt_holds_whatever_the_interleaving(script):
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        (directory / "desk").mkdir()
        orders = Orders(directory)
        try:
            clock = Clock(1_000_000_000)
            stamps = CommandStamps(clock)
            halt = StandingHalt(str(directory), lambda m: orders.push("halt", m), stamps,
                                clock_ns=clock, resend_s=0.0)
            desk = OperatorDesk(str(directory), "ipc:///nonexistent",
                                lambda: {"trading_state": "HALTED"}, stamps=stamps,
                                supervisor_halt=lambda: halt.reason, sleep=lambda s: None,
                                wait_s={"halt": 0.0, "resume": 0.0})
            desk._push_all = lambda messages: all(orders.push("desk", m) for m in messages)
            for step in script:
                if step in ("ctl_halt", "ctl_resume"):
                    cmd = step[4:]
                    before = len(orders.queues["desk"])
                    answer = desk.handle(cmd, "")
                    if cmd == "resume" and halt.reason:
                        assert "refused" in answer.get("error", "")
                        assert len(orders.queues["desk"]) == before      # nothing sent
                elif step == "supervisor_halts":
                    halt.order("gave up on feed: restart limit exceeded")
                elif step == "deliver_desk":
                    orders.deliver("desk")
                elif step == "deliver_halt":
                    orders.deliver("halt")
                elif step == "poll":
                    halt.poll()
                elif step == "kill":
                    orders.restart()
                else:
                    orders.deliver("desk" if orders.queues["desk"] else "halt", crash=True)
            # drain: the loop polls, orders reads both sockets, until nothing is left to send
            for _ in range(20):
                halt.poll()
                while orders.queues["desk"] or orders.queues["halt"]:
                    orders.deliver("desk")
                    orders.deliver("halt")
            if halt.reason:
                assert orders.desk.engine.trading_state == "HALTED", script
                record = read_state(str(directory))
                assert record["state"] == "HALTED" and record["command_ns"] >= halt.stamp, script
        finally:
            orders.desk.close()
