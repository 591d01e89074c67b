"""A fake clock, stage table and stage processes for SupervisorCore unit tests: no real process, no
sleep. Time moves only when the core waits (`World.wait`), in the core's own steps, and each fake
stage acts on the fake clock: it reports READY after `ready_after_s`, beats while it runs, stops
when asked.

    world = World(); procs = world.stages("positions", "orders")
    core = world.core(procs, Limits(...))
    world.at(1.0, lambda: world.kill("orders"))
"""

from __future__ import annotations

import signal
from types import SimpleNamespace

from common import stagetable as st
from common.tradingstate import TradingState
from supervision.core import SupervisorCore
from supervision.hang import HangJudge
from supervision.policy import RestartPolicy
from supervision.process import StageProcess

NS = 1_000_000_000


class FakeTable:
    def __init__(self, names):
        self.rows = {n: {"state": st.NONE, "heartbeat_ns": 0, "stop_requested": 0, "ready_ns": 0,
                         "started_ns": 0, "pid": 0} for n in names}
        self.trading_state, self.halt_reason = TradingState.ACTIVE, 0

    def row(self, name):
        return self.rows[name]

    def set_trading_state(self, state, reason=0):
        self.trading_state, self.halt_reason = state, reason


class FakeOsProcess:
    """What multiprocessing.Process would be: a pid, an exit code, a sentinel."""

    def __init__(self, world, pid, behaviour):
        self.world, self.pid, self.exitcode = world, pid, None
        self.sentinel = object()
        self.behaviour = behaviour          # dict: ready_after_s, held, exit_code_at_start
        self.started_ns = None

    def start(self):
        self.started_ns = self.world.now_ns

    def join(self, timeout=None):
        pass

    def close(self):
        if self.exitcode is None:
            raise ValueError("close() of a running process")


class FakeStage(StageProcess):
    """StageProcess with a fake multiprocessing context: its bookkeeping is the real one."""

    def __init__(self, world, name, policy):
        ctx = SimpleNamespace(cores=(0,), run_dir=world.run_dir, restarts=0)
        super().__init__(None, name, f"{name}.stage", ctx, policy)
        self.world = world
        self.spawns = 0

    def spawn(self) -> int:
        self.spawns += 1
        self.proc = self.world.new_process(self)
        self.proc.start()
        self.killed_as_hung, self.kill_reason, self.became_ready, self.restart_due = (
            False,
            "",
            False,
            None,
        )
        return self.proc.pid

    def affinity(self):
        return [0]

    def send(self, sig: int) -> None:
        if self.alive:
            self.world.signal(self.proc, sig)


class World:
    def __init__(self, run_dir="/nonexistent"):
        self.now_ns = 1_000 * NS
        self.run_dir = run_dir
        self.names = []
        self.table = None
        self.next_pid = 100
        self.timeline = []                  # (time_s, action), fired when the clock passes it
        self.behaviours = {}                # name -> list of behaviours for the next spawns
        self.procs = {}

    # -- set-up --------------------------------------------------------------------------------
    def stages(self, *names, max_restarts=5, window_s=60.0):
        self.names = list(names)
        self.table = FakeTable(names)
        out = [FakeStage(self, n, RestartPolicy(max_restarts, window_s, 20, 200)) for n in names]
        self.procs = {p.name: p for p in out}
        return out

    def core(self, procs, limits, runlog=None, judge=None):
        self.runlog = runlog or FakeRunLog(lambda: self.now_s)
        return SupervisorCore(
            procs,
            self.table,
            self.runlog,
            limits,
            clock_ns=lambda: self.now_ns,
            wait=self.wait,
            judge=judge or HangJudge(limits.heartbeat_timeout_s, lambda pid: None),
        )

    def next_spawn(self, name, **behaviour):
        """How the next spawn of `name` behaves: ready_after_s (None: never), exit_code (dies at
        once)."""
        self.behaviours.setdefault(name, []).append(behaviour)

    def at(self, t_s, action):
        self.timeline.append((self.now_ns + int(t_s * NS), action))
        self.timeline.sort(key=lambda e: e[0])

    @property
    def now_s(self):
        return self.now_ns / NS

    # -- what the stages do ----------------------------------------------------------------------
    def new_process(self, stage):
        queued = self.behaviours.get(stage.name)
        behaviour = queued.pop(0) if queued else {"ready_after_s": 0.01}
        self.next_pid += 1
        return FakeOsProcess(self, self.next_pid, dict(behaviour, held=False))

    def signal(self, proc, sig):
        if sig == signal.SIGKILL:
            proc.exitcode = -signal.SIGKILL
        elif sig == signal.SIGSTOP:
            proc.behaviour["held"] = True
        elif sig == signal.SIGTERM and not proc.behaviour["held"]:
            proc.exitcode = -signal.SIGTERM

    def kill(self, name):
        self.procs[name].send(signal.SIGKILL)

    def hold(self, name):
        self.procs[name].send(signal.SIGSTOP)

    def _step_stages(self):
        for name, stage in self.procs.items():
            proc, row = stage.proc, self.table.row(name)
            if proc is None or proc.exitcode is not None or proc.behaviour["held"]:
                continue
            if "exit_code" in proc.behaviour:
                proc.exitcode = proc.behaviour["exit_code"]
                continue
            if row["stop_requested"]:
                row["state"], proc.exitcode = st.STOPPED, 0
                continue
            after = proc.behaviour.get("ready_after_s")
            if row["state"] == st.NONE:
                row["state"], row["started_ns"] = st.STARTING, self.now_ns
            if (
                after is not None
                and row["state"] == st.STARTING
                and self.now_ns - proc.started_ns >= after * NS
            ):
                row["state"], row["ready_ns"] = st.READY, self.now_ns
            row["heartbeat_ns"] = self.now_ns

    def wait(self, sentinels, timeout_s):
        """The core's wait: move the clock (at most to the next scripted event), then let stages
        act."""
        target = self.now_ns + max(int(timeout_s * NS), 1_000)
        if self.timeline and self.timeline[0][0] < target:
            target = max(self.now_ns, self.timeline[0][0])
        self.now_ns = target
        while self.timeline and self.timeline[0][0] <= self.now_ns:
            self.timeline.pop(0)[1]()
        self._step_stages()


class FakeRunLog:
    def __init__(self, clock_s):
        self.clock_s = clock_s
        self.path = "supervisor.jsonl"
        self.failure = None
        self.lost = 0
        self.events = []

    def event(self, kind, stage="", **fields):
        doc = {"t": self.clock_s(), "kind": kind, "stage": stage, **fields}
        self.events.append(doc)
        return doc

    def kinds(self, stage=None):
        return [e["kind"] for e in self.events if stage is None or e["stage"] == stage]

    def of(self, kind, stage):
        return [e for e in self.events if e["kind"] == kind and e["stage"] == stage]
