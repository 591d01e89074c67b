"""Exactly once under failure: the same replay, undisturbed and while stages are killed at random.

Both runs must end with the same client order ids at the broker, the same fills, the same positions
and the same realised P&L. The test prints every kill it made and fails on any difference.
"""

import os
import random
import signal
import time

import pytest

from tests.chaos.harness import STAGES, Pipeline
from tests.chaos.replay_case import outcome, overrides, write_session
from tests.support import eventually

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("replay") / "session.csv")
    write_session(path)
    return path


def _run(tmp_path, path, speed, disturb=None):
    with Pipeline(tmp_path, overrides(path, speed)) as p:
        p.wait_running()
        if disturb:
            disturb(p)
        code = p.wait_exit(timeout=300)
    assert code == 0, p.output()[-4000:]
    assert p.leftovers() == {"segments": [], "sockets": []}
    return p, outcome(p.run_dir)


def test_a_replay_run_twice_gives_identical_fills_and_positions(tmp_path, session_file):
    _, first = _run(tmp_path, session_file, speed=0)
    _, second = _run(tmp_path, session_file, speed=0)
    assert first["fills"], "the session must trade for this test to mean anything"
    roles = {f["role"] for f in first["fills"]}
    assert {"ENTRY", "STOP", "TARGET", "SQUAREOFF"} <= roles, roles
    assert first == second


def test_random_kills_and_a_hang_change_nothing_at_the_broker(tmp_path, session_file):
    _, calm = _run(tmp_path, session_file, speed=0)
    seed = int(os.environ.get("OTRADE_CHAOS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    kills = []

    def disturb(p: Pipeline):
        plan = list(STAGES) * 3          # 12 kills, every stage at least three times
        rng.shuffle(plan)
        plan.insert(rng.randrange(len(plan)), "STOP")
        for what in plan:
            if p.proc.poll() is not None:
                break
            time.sleep(rng.uniform(0.2, 0.7))
            name = rng.choice(["orders", "signals"]) if what == "STOP" else what
            pid = p.stage(name).get("pid", 0)
            if not pid:
                continue
            os.kill(pid, signal.SIGSTOP if what == "STOP" else signal.SIGKILL)
            kills.append((round(time.monotonic(), 3), "SIGSTOP" if what == "STOP" else "SIGKILL", name, pid))
            eventually(lambda: p.proc.poll() is not None or p.stage(name).get("state") == "ready"
                       and p.stage(name).get("pid") != pid, timeout=20, message=f"{name} back")

    p, chaos = _run(tmp_path, session_file, speed=4.0, disturb=disturb)
    print(f"chaos seed {seed}; kills: {kills}")
    assert len([k for k in kills if k[1] == "SIGKILL"]) >= 10, kills
    restarts = [e for e in p.events() if e["kind"] == "restart"]
    assert len(restarts) >= 10, restarts
    for key in ("broker_orders", "fills", "positions", "realised_pnl_inr"):
        assert chaos[key] == calm[key], f"{key} differs after kills {kills} (seed {seed})"
