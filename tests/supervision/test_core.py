"""SupervisorCore on a fake clock with fake stage processes (tests/supervision/fakes.py):
milliseconds per test, no real process. Issue 12.10: a stage that is (re)starting is one state among
others, checked on every pass; it never blinds the supervisor to the other stages."""

import errno
import signal

from common.tradingstate import TradingState
from supervision.core import EXIT_HALTED, EXIT_LOG_FAILED, EXIT_OK, Limits
from supervision.entry import STAGE_FATAL_EXIT, fatal_path
from supervision.runlog import RunLog
from tests.supervision.fakes import World

STAGES = ("positions", "orders", "signals", "feed")


def limits(**over):
    base = dict(
        heartbeat_timeout_s=1.0,
        ready_timeout_s=5.0,
        stop_grace_s=0.5,
        stay_up_degraded=False,
        duration_s=10.0,
    )
    return Limits(**{**base, **over})


def test_core_when_nothing_fails_then_every_stage_starts_in_order_and_stops_in_reverse():
    world = World()
    core = world.core(world.stages(*STAGES), limits(duration_s=1.0))
    outcome = core.run()
    assert outcome.exit_code == EXIT_OK and outcome.reason == "duration reached"
    spawns = [e["stage"] for e in world.runlog.events if e["kind"] == "spawn"]
    stops = [e["stage"] for e in world.runlog.events if e["kind"] == "stopping"]
    assert spawns == list(STAGES) and stops == list(reversed(STAGES))


def test_core_when_a_stage_dies_while_another_is_restarting_then_the_death_is_handled_at_once():
    world = World()
    core = world.core(world.stages(*STAGES), limits(ready_timeout_s=60.0, duration_s=5.0))
    world.next_spawn("orders", ready_after_s=0.01)          # the first start
    world.next_spawn("orders", ready_after_s=None)          # the restart never reports READY
    world.at(1.0, lambda: world.kill("orders"))
    world.at(1.5, lambda: world.kill("positions"))          # while orders is still starting
    outcome = core.run()
    exit_pos = world.runlog.of("exit", "positions")[0]
    respawn = world.runlog.of("spawn", "positions")[1]
    ready = world.runlog.of("ready", "positions")[1]
    assert respawn["t"] - exit_pos["t"] < 0.05, "positions' death waited for orders' start-up"
    assert ready["t"] - exit_pos["t"] < 0.2
    assert len(world.runlog.of("ready", "orders")) == 1, "orders was meant to be still starting"
    assert outcome.exit_code == EXIT_OK


def test_core_when_a_restarted_stage_is_held_before_ready_past_its_deadline_then_it_is_killed_and_restarted():  # noqa: E501 - the name is the test's sentence
    world = World()
    core = world.core(world.stages(*STAGES), limits(ready_timeout_s=2.0, duration_s=8.0))
    world.next_spawn("orders", ready_after_s=0.01)
    # held before READY (SIGSTOP while starting)
    world.next_spawn("orders", ready_after_s=None)
    world.next_spawn("orders", ready_after_s=0.01)          # the replacement starts normally
    world.at(1.0, lambda: world.kill("orders"))
    outcome = core.run()
    not_ready = world.runlog.of("not_ready", "orders")
    assert len(not_ready) == 1
    respawn_at = world.runlog.of("spawn", "orders")[1]["t"]
    assert 2.0 <= not_ready[0]["t"] - respawn_at < 2.1
    exits = world.runlog.of("exit", "orders")
    assert exits[1]["reason"] == "not ready, killed" and exits[1]["signal"] == signal.SIGKILL
    assert len(world.runlog.of("ready", "orders")) == 2     # the third spawn became READY
    assert outcome.exit_code == EXIT_OK and world.table.trading_state == TradingState.ACTIVE


def test_core_when_a_ready_stage_stops_beating_then_it_is_declared_hung_killed_and_replaced():
    world = World()
    core = world.core(world.stages(*STAGES), limits(duration_s=5.0))
    world.at(1.0, lambda: world.hold("signals"))
    outcome = core.run()
    hang = world.runlog.of("hang", "signals")
    assert len(hang) == 1 and 1.0 < hang[0]["t"] - (world.runlog.of("running", "")[0]["t"]) < 2.2
    assert world.runlog.of("exit", "signals")[0]["reason"] == "hung, killed"
    assert len(world.runlog.of("ready", "signals")) == 2
    assert outcome.exit_code == EXIT_OK


def test_core_when_a_stage_dies_during_start_up_of_a_later_one_then_it_is_restarted_and_start_up_continues():  # noqa: E501 - the name is the test's sentence
    world = World()
    core = world.core(world.stages(*STAGES), limits(duration_s=1.0))
    world.next_spawn("feed", ready_after_s=0.5)             # a slow feed start
    world.at(0.2, lambda: world.kill("positions"))          # dies while the feed is starting
    outcome = core.run()
    assert len(world.runlog.of("ready", "positions")) == 2
    assert outcome.exit_code == EXIT_OK


def test_core_when_a_stage_exits_with_the_fatal_code_then_it_is_not_restarted_and_the_cause_is_named(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    world = World(run_dir=str(tmp_path))
    (tmp_path / "logs").mkdir()
    with open(fatal_path(str(tmp_path), "feed"), "w") as f:
        f.write("feed.replay.path: session.csv: no 'ts' column\n")
    core = world.core(world.stages(*STAGES), limits())
    world.next_spawn("feed", exit_code=STAGE_FATAL_EXIT)
    outcome = core.run()
    assert world.procs["feed"].spawns == 1
    assert outcome.exit_code == EXIT_HALTED
    assert "no 'ts' column" in outcome.reason and outcome.gave_up == ["feed"]


def test_core_when_a_critical_stage_exceeds_its_restart_limit_then_trading_halts_with_exit_3():
    world = World()
    procs = world.stages(*STAGES, max_restarts=2)
    core = world.core(procs, limits(duration_s=30.0))
    for _ in range(3):
        world.next_spawn("orders", ready_after_s=0.01)
    for t in (1.0, 2.0, 3.0):
        world.at(t, lambda: world.kill("orders"))
    outcome = core.run()
    assert outcome.exit_code == EXIT_HALTED and outcome.gave_up == ["orders"]
    assert world.table.trading_state == TradingState.HALTED
    assert world.now_s < 1_000 + 10, "the run went on after giving up on orders"


def test_core_when_the_run_log_write_fails_then_trading_halts_every_stage_is_stopped_and_exit_is_4(
    tmp_path,
):
    world = World()
    runlog = RunLog(str(tmp_path / "supervisor.jsonl"))
    core = world.core(world.stages(*STAGES), limits(duration_s=30.0), runlog=runlog)

    def disk_full():
        def write(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        runlog._write = write

    world.at(1.0, disk_full)
    world.at(1.1, lambda: world.kill("signals"))            # the next event cannot be written
    outcome = core.run()
    runlog.close()
    assert outcome.exit_code == EXIT_LOG_FAILED and "No space left" in outcome.reason
    assert world.table.trading_state == TradingState.HALTED
    assert all(p.proc is None for p in world.procs.values()), "a stage was left running"
    assert world.now_s - 1_000 < 10, "the supervisor did not stop promptly"
    assert runlog.lost > 0
