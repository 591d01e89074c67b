"""The supervisor's own halt end to end (issue 13): a real `python supervisor.py` that gives up on
feed and stays up degraded halts trading through orders' command channel; the halt is journaled
once, still holds after orders is SIGKILLed and restarted, and `ctl resume` is refused while it
stands."""

import json
import os
import signal

import pytest

from tests.chaos.harness import Pipeline
from tests.integration.test_ctl import ctl, journal
from tests.support import eventually

pytestmark = pytest.mark.slow


def record(p: Pipeline) -> dict:
    try:
        with open(os.path.join(p.run_dir, "orders.trading_state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def supervisor_halts(p: Pipeline) -> list[dict]:
    return [e for e in journal(p, "orders.jsonl") if e.get("type") == "TradingStateChanged"
            and e["reason"].startswith("supervisor halted trading")]


def kill_when_ready(p: Pipeline, stage: str, restarts: int) -> None:
    info = eventually(lambda: (s := p.stage(stage)) and s["state"] == "ready"
                      and s["restarts"] == restarts and s, timeout=60,
                      message=f"{stage} ready after {restarts} restarts")
    os.kill(info["pid"], signal.SIGKILL)


def test_supervisor_halt_survives_an_orders_kill_is_journaled_once_and_resume_is_refused(tmp_path):
    over = {"supervisor": {"stay_up_degraded": True,
                           "restart": {"max_restarts": 1, "window_s": 600}}}
    with Pipeline(tmp_path, over) as p:
        p.wait_running()
        kill_when_ready(p, "feed", 0)
        kill_when_ready(p, "feed", 1)              # the second death: the supervisor gives up
        # the record shows HALTED as the engine journals it, and the acknowledgement once the
        # journal is in the kernel: wait for both
        halted = eventually(lambda: (r := record(p)) and r.get("state") == "HALTED"
                            and r.get("command_ns") and r,
                            timeout=30, message="orders halted by the supervisor, acknowledged")
        assert halted["reason"].startswith("supervisor halted trading: gave up on feed")
        health = p.health()
        assert health["trading_state"] == "HALTED" and health["trading_state_by"] == "supervisor"

        kill_when_ready(p, "orders", 0)            # SIGKILL orders: restarted once
        eventually(lambda: (s := p.stage("orders")) and s["state"] == "ready"
                   and s["restarts"] == 1, timeout=60, message="orders restarted")
        again = eventually(lambda: (r := record(p)) and r.get("command_ns") and r, timeout=30,
                           message="the restarted orders acknowledged the halt")
        assert again["state"] == "HALTED" and again["reason"] == halted["reason"]
        assert len(supervisor_halts(p)) == 1, supervisor_halts(p)   # resent, applied once

        code, answer, err = ctl(p, "resume")
        assert code == 1 and "gave up on feed" in answer["error"], (answer, err)
        assert record(p)["state"] == "HALTED" and p.health()["trading_state"] == "HALTED"


def test_supervisor_halt_holds_after_the_supervisor_is_killed_until_an_operator_resumes(tmp_path):
    """The account's day (a live-clock feed): the halt orders journaled outlives a SIGKILLed
    supervisor; the next start on the same account begins HALTED with its reason, and, the
    supervisor that halted being gone, `ctl resume` is the operator's call again."""
    from tests.chaos.harness import merge, paper_on_a_live_feed

    over = {"supervisor": {"stay_up_degraded": True,
                           "restart": {"max_restarts": 1, "window_s": 600}}}
    with paper_on_a_live_feed(tmp_path / "venue") as (_venue, live):
        with Pipeline(tmp_path, merge(live, over)) as first:
            first.wait_running()
            kill_when_ready(first, "feed", 0)
            kill_when_ready(first, "feed", 1)
            halted = eventually(lambda: (r := record(first)) and r.get("command_ns") and r,
                                timeout=30, message="orders acknowledged the supervisor's halt")
            assert halted["state"] == "HALTED"
            first.kill_everything()                 # SIGKILL the supervisor and its stages
        with Pipeline(tmp_path, live) as second:
            health = second.wait_running()
            assert health["trading_state"] == "HALTED", health
            assert health["trading_state_reason"] == halted["reason"]
            code, answer, err = ctl(second, "resume")
            assert code == 0 and answer["trading_state"] == "ACTIVE", (answer, err)
