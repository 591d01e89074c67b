"""Kill-a-process failure tests against the real `python supervisor.py` (issue: supervisor).

Each case checks what a trader relies on: a dead or hung stage is back on its own cores within a
second and the pipeline carries on; a stage that cannot start ends the run with exit code 3; a dead
supervisor takes every stage with it; and nothing of the run is left in /dev/shm or the ipc
directory.
"""

import os
import signal
import time

import pytest

from tests.chaos.harness import STAGES, Pipeline, alive
from tests.support import eventually

pytestmark = pytest.mark.slow


def _restarted(p: Pipeline, name: str, old_pid: int):
    s = p.stage(name)
    return s if s.get("state") == "ready" and s.get("pid") not in (0, old_pid) else None


def test_each_stage_killed_is_restarted_on_its_cores_and_ticks_keep_flowing(tmp_path):
    with Pipeline(tmp_path) as p:
        p.wait_running()
        for name in STAGES:
            before = p.stage(name)
            os.kill(before["pid"], signal.SIGKILL)
            killed_at = time.monotonic()
            after = eventually(lambda: _restarted(p, name, before["pid"]), timeout=10,
                               message=f"{name} restarted")
            assert after["cores"] == before["cores"]
            ticks = p.ticks_at_signals()
            eventually(
                lambda: p.ticks_at_signals() > ticks + 100,
                timeout=10,
                message="ticks reach signals",
            )
            restart = [
                e
                for e in p.events()
                if e["stage"] == name and e["kind"] == "ready" and e["restarts"] >= 1
            ]
            assert restart and restart[-1]["pinned"], (
                f"{name} restart not recorded as pinned: {restart}"
            )
            # Death to READY, from the supervisor's own log (not the test's polling delay).
            exits = [e for e in p.events() if e["stage"] == name and e["kind"] == "exit"]
            assert exits and exits[-1]["signal"] == signal.SIGKILL
            assert restart[-1]["ts"] - exits[-1]["ts"] < 1.0, (
                name,
                exits[-1],
                restart[-1],
                killed_at,
            )
    assert p.exit_code == 0, p.output()[-3000:]
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_a_stopped_stage_is_declared_hung_killed_and_replaced(tmp_path):
    with Pipeline(tmp_path) as p:
        p.wait_running()
        before = p.stage("orders")
        os.kill(before["pid"], signal.SIGSTOP)
        eventually(
            lambda: _restarted(p, "orders", before["pid"]), timeout=15, message="orders replaced"
        )
        kinds = [(e["kind"], e.get("pid")) for e in p.events() if e["stage"] == "orders"]
        assert ("hang", before["pid"]) in kinds
        exits = [e for e in p.events() if e["stage"] == "orders" and e["kind"] == "exit"]
        assert exits[-1]["reason"] == "hung, killed" and exits[-1]["signal"] == signal.SIGKILL
        ticks = p.ticks_at_signals()
        eventually(lambda: p.ticks_at_signals() > ticks + 100, timeout=10)
    assert p.exit_code == 0, p.output()[-3000:]
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_a_feed_that_crashes_on_every_start_makes_the_supervisor_give_up_with_exit_3(tmp_path):
    # A recorder path that is a directory: the feed crashes (IsADirectoryError, not a config error
    # the stage recognises) on every start, so the restart budget is what ends the run.
    overrides = {
        "feed": {"record_path": str(tmp_path)},
        "supervisor": {"restart": {"max_restarts": 3, "window_s": 60, "backoff_initial_ms": 10}},
    }
    with Pipeline(tmp_path, overrides) as p:
        code = p.wait_exit(timeout=120)
    assert code == 3, p.output()[-3000:]
    kinds = [e["kind"] for e in p.events() if e["stage"] == "feed"]
    assert kinds.count("spawn") == 4 and "give_up" in kinds
    assert any(e["kind"] == "trading_halted" for e in p.events())
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_a_feed_whose_replay_file_cannot_be_read_is_not_restarted_and_the_cause_is_named(tmp_path):
    broken = tmp_path / "session.parquet"
    # exists (config is valid), cannot be read
    broken.write_bytes(b"this is not a parquet file")
    overrides = {
        "feed": {"source": "replay", "replay": {"path": str(broken)}},
        "supervisor": {"restart": {"max_restarts": 3, "window_s": 60, "backoff_initial_ms": 10}},
    }
    with Pipeline(tmp_path, overrides) as p:
        code = p.wait_exit(timeout=120)
    assert code == 3, p.output()[-3000:]
    feed = [e for e in p.events() if e["stage"] == "feed"]
    assert [e["kind"] for e in feed].count("spawn") == 1, (
        "a stage with a config/input error was restarted"
    )
    assert [e["exit_code"] for e in feed if e["kind"] == "exit"] == [78]
    give_up = [e for e in feed if e["kind"] == "give_up"]
    assert give_up and str(broken) in give_up[0]["reason"]
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_a_killed_supervisor_takes_every_stage_with_it_and_the_next_start_cleans_up(tmp_path):
    registry = tmp_path / "registry"
    with Pipeline(tmp_path, registry=registry) as p:
        p.wait_running()
        children = p.descendants()
        assert len(children) >= 5      # forkserver + four stages (+ resource tracker)
        p.proc.send_signal(signal.SIGKILL)
        p.wait_exit(timeout=10)
        eventually(lambda: not alive(children), timeout=3.0, message=f"no stage left of {children}")
    # Python's resource tracker may already have unlinked the dead run's segments; socket files and
    # the registry entry remain until the next start sweeps them.
    with Pipeline(tmp_path, registry=registry) as q:
        q.wait_running()
        assert p.leftovers() == {"segments": [], "sockets": []}     # swept by the next start
        swept = [e for e in q.events() if e["kind"] == "swept_dead_run"]
        assert swept and swept[0]["run_id"] == p.run_id
    assert q.exit_code == 0, q.output()[-3000:]
    assert q.leftovers() == {"segments": [], "sockets": []}
