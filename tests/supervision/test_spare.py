"""Spare stage processes (supervision/spare.py): a restart runs in the spare parked for it, with its
restart count; a spare found dead is replaced by a new fork; a spare ends when it is dropped and
when its supervisor dies; the core parks spares only once every stage is READY, again after each
restart, and never while a stage is starting.

Real forkserver processes for the process side (a tiny stage module, tests/supervision/
spare_stage.py); the fake world of tests/supervision/fakes.py for the core's decisions.
"""

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap

import psutil

from common.ringbuffer import RingHandle
from common.stage import StageContext
from config.schema import Config, InstrumentConfig
from config.secrets import Secrets
from supervision.core import Limits
from supervision.policy import RestartPolicy
from supervision.process import StageProcess
from tests.supervision.fakes import World
from tests.support import eventually

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = "tests.supervision.spare_stage"


def context(run_dir) -> StageContext:
    config = Config(instruments=(InstrumentConfig(symbol="SYM0", token=1, tick_size=0.05,
                                                  ref_price=100.0),))
    return StageContext(stage="positions", run_id="t", run_dir=str(run_dir), cores=(0,),
                        config=config, secrets=Secrets(), ring=RingHandle("none", None, 0),
                        instruments_segment="", stagetable_segment="")


def stage_process(run_dir) -> StageProcess:
    return StageProcess(mp.get_context("forkserver"), "positions", MODULE, context(run_dir),
                        RestartPolicy(10, 60.0, 1, 1), spares=True)


def ran(run_dir) -> dict[int, int]:
    """pid -> restart count of every process that ran the stage."""
    out = {}
    for name in os.listdir(run_dir):
        if name.startswith("ran."):
            with open(os.path.join(run_dir, name)) as f:
                out[int(name[4:])] = int(f.read())
    return out


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_restart_runs_in_the_parked_spare_with_its_restart_count(tmp_path):
    proc = stage_process(tmp_path)
    proc.park_spare()
    spare = proc.spare.pid
    assert ran(tmp_path) == {}                     # parked: the stage has not run
    proc.restarts = 3
    assert proc.spawn() == spare and proc.from_spare and proc.spare is None
    eventually(lambda: ran(tmp_path) == {spare: 3}, 30, message="the spare ran as restart 3")
    eventually(lambda: not proc.alive, 30)
    assert proc.exit_status() == (0, None)
    proc.reap()


def test_a_spare_found_dead_at_a_restart_is_replaced_by_a_new_fork(tmp_path):
    proc = stage_process(tmp_path)
    proc.park_spare()
    spare = proc.spare.pid
    os.kill(spare, signal.SIGKILL)
    eventually(lambda: proc.spare.proc.exitcode is not None, 30)
    proc.restarts = 1
    pid = proc.spawn()
    assert pid != spare and not proc.from_spare
    eventually(lambda: ran(tmp_path) == {pid: 1}, 30, message="the new fork ran the stage")
    eventually(lambda: not proc.alive, 30)
    proc.reap()


def test_a_dropped_spare_exits_without_running_the_stage(tmp_path):
    proc = stage_process(tmp_path)
    proc.park_spare()
    spare = proc.spare.pid
    proc.drop_spare()
    assert proc.spare is None and gone(spare)
    assert ran(tmp_path) == {}


def test_a_spare_ends_when_its_supervisor_is_killed(tmp_path):
    """Its end of the pipe closes with the supervisor: the spare reads EOF and exits (and it never
    runs the stage)."""
    supervisor = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {ROOT!r})
        from tests.supervision.test_spare import stage_process
        proc = stage_process({str(tmp_path)!r})
        proc.park_spare()
        print(proc.spare.pid, flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        spare = int(supervisor.stdout.readline())
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait()
        eventually(lambda: gone(spare), 10, message="the spare gone with its supervisor")
        assert ran(tmp_path) == {}
    finally:
        supervisor.kill()
        supervisor.wait()
        supervisor.stdout.close()


# -- the core's decisions ------------------------------------------------------------------------
STAGES = ("positions", "orders", "signals", "feed")


def test_core_parks_spares_once_all_are_ready_and_after_each_restart_never_while_one_starts():
    world = World()
    procs = world.stages(*STAGES)
    parked: list[tuple[str, float, list[str]]] = []
    for p in procs:
        p.spares = True
        p.park_spare = (lambda p=p: parked.append(
            (p.name, world.now_s, [q.name for q in procs if q.starting])))
    core = world.core(procs, Limits(heartbeat_timeout_s=1.0, ready_timeout_s=5.0,
                                    stop_grace_s=0.5, stay_up_degraded=False, duration_s=3.0))
    world.next_spawn("orders", ready_after_s=0.01)
    world.next_spawn("orders", ready_after_s=0.5)          # a slow restart
    world.at(1.0, lambda: world.kill("orders"))
    world.at(1.1, lambda: world.kill("feed"))              # dies while orders is starting
    killed_at = world.now_s + 1.0
    core.run()
    running = world.runlog.of("running", "")[0]["t"]
    assert sorted(name for name, t, _ in parked if t < killed_at) == sorted(STAGES)
    assert all(t >= running for _, t, _ in parked)
    assert all(starting == [] for _, _, starting in parked)
    later = [(name, t) for name, t, _ in parked if t >= killed_at]
    orders_ready = world.runlog.of("ready", "orders")[1]["t"]
    feed_ready = world.runlog.of("ready", "feed")[1]["t"]
    assert sorted(name for name, _ in later) == ["feed", "orders"]
    assert all(t >= max(orders_ready, feed_ready) for _, t in later)
