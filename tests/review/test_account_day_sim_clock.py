"""Review of the account home (issue 11.1): a paper account traded on the deterministic sim feed.

The sim's market starts at its session open in every run, but a start the same IST day resumes the
account's day, whose journal's market clock is where the previous run's sim ended. The engine's
market clock never goes back, so in the resumed run it stands still until the new sim passes the old
run's end: every tick is stamped with one time, and whatever the engine paces on market time (the
order-rate throttle) waits. Seen: run 1 (4 s) left 4 positions open after its flatten stop; run 2
stamped its first 98 tick marks with one time and sent the restored flatten's closes only 4.00 s in;
a run 2 shorter than run 1 never closed them (the legs were already cancelled: unprotected all run).
"""

import json
import os

import pytest

from tests.chaos.harness import Pipeline

pytestmark = pytest.mark.slow


def _records(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _run(tmp_path, seconds: str) -> Pipeline:
    with Pipeline(tmp_path, {}, args=["--duration", seconds]) as p:
        code = p.wait_exit(timeout=120)
    assert code in (0, 3), p.output()[-3000:]
    return p


@pytest.mark.xfail(strict=True, reason=(
    "the sim feed restarts its market at the session open while the resumed account day's engine clock "
    "is at the previous run's end (orders/engine.py clock never goes back; feed/sim starts from its "
    "session open): the resumed run's market clock stands still and the restored flatten's closes wait. "
    "Not fixed here: the choice (a sim run keeps no account day, like a replay; or the sim resumes at the "
    "day's market clock) is the lead's, and it touches feed/ or orders/."))
def test_resumed_sim_day_when_the_previous_run_left_positions_then_the_next_run_closes_them_from_its_first_ticks(tmp_path):
    first = _run(tmp_path, "5")
    with open(os.path.join(first.run_dir, "positions.json")) as f:
        left = [q for q in json.load(f)["positions"] if q["qty"]]
    if not left:
        pytest.skip("the first run left no position open: nothing to show")
    with open(os.path.join(first.run_dir, "account.json")) as f:
        journal = os.path.join(json.load(f)["dir"], "orders.jsonl")
    before = len(_records(journal))
    _run(tmp_path, "3")
    added = _records(journal)[before:]
    marks = [r["ts_event_ns"] for r in added if r["type"] == "TicksProcessed"]
    assert len(set(marks)) > 1, f"the resumed run's market clock stood still at {marks[:1]} for {len(marks)} marks"
    closes = [r for r in added if r["type"] == "OrderSubmitting" and r["role"] == "FLATTEN"]
    assert {r["symbol"] for r in closes} >= {q["symbol"] for q in left}
