"""Exactly once under failure: the same replay, undisturbed and while stages are killed at random.

Two replays (parameters of every test here):
- `sim-1day-1strategy` (tests/chaos/replay_case.py): 200,000 generated ticks over 20 instruments,
  one MA-crossover strategy, 15:07-15:12 of one day (entries, stops, targets, cut-off, square-off).
- `nse-3days-2strategies` (tests/chaos/nse_case.py): real NSE 1-minute bars of 3 symbols over 3
  sessions with their pre-open and post-close bars, 4 ticks a bar, EMA 10/30 MARKET and SMA 5/20
  LIMIT, square-off every day, a daily loss limit that halts two of the three days.

Run undisturbed twice, a replay must give identical journals (signals, orders, fills, paper broker;
line by line, wall-clock fields aside). Killed at random, it must end with the same client order ids
at the broker, the same fills, the same positions and the same realised P&L, and orders must have
made the same decisions (each denial with its reason, placement, cancel and square-off, once each).
The chaos test prints every kill it made and its seed (OTRADE_CHAOS_SEED replays it) and fails on
any difference.
"""

import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass
from types import ModuleType

import pytest

from tests.chaos import nse_case, replay_case
from tests.chaos.harness import STAGES, Pipeline, alive
from tests.chaos.journals import decisions, first_difference, journals
from tests.chaos.replay_case import outcome
from tests.support import eventually

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Case:
    replay: ModuleType           # write_session(path), overrides(path, speed)
    chaos_speed: float           # replay pace while stages are killed
    kills_per_stage: int
    min_kills: int
    pause_s: tuple[float, float]  # between one stage back and the next kill
    in_session_share: float = 0.0  # of the kills, how many wait until ticks flow (not a night)
    feed_last: bool = False      # the feed killed once, last (see CASES)


# A restarted feed re-reads what its earlier life published in batches of 16,384 rows and publishes
# the rest of such a batch at once, unpaced: a paced replay shorter than that (the NSE one, 13,600
# ticks) runs to its end right after a feed restart. So that case kills the feed once, after the
# others.
CASES = {
    "sim-1day-1strategy": Case(
        replay_case, 6.0, kills_per_stage=3, min_kills=10, pause_s=(0.2, 0.7)
    ),
    "nse-3days-2strategies": Case(
        nse_case,
        nse_case.CHAOS_SPEED,
        kills_per_stage=3,
        min_kills=8,
        pause_s=(0.3, 1.5),
        in_session_share=0.5,
        feed_last=True,
    ),
}


def _run(tmp_path, case: Case, path: str, speed: float, disturb=None):
    with Pipeline(tmp_path, case.replay.overrides(path, speed)) as p:
        if disturb:
            p.wait_running()
            disturb(p)
        code = p.wait_exit(timeout=300)
    assert code == 0, p.output()[-4000:]
    assert p.leftovers() == {"segments": [], "sockets": []}
    # A stage signalled by the final stop ladder was cut short, and its journal with it.
    cut = [e for e in p.events() if e["kind"] == "signal"]
    assert not cut, f"stages signalled at the end of the run: {cut}"
    return p, outcome(p.run_dir)


@pytest.fixture(scope="module", params=list(CASES))
def calm(request, tmp_path_factory):
    """One undisturbed run of the case at full speed: (case, replay file, outcome, journals,
    decisions)."""
    case = CASES[request.param]
    where = tmp_path_factory.mktemp(request.param)
    path = str(where / "session.csv")
    case.replay.write_session(path)
    p, result = _run(where, case, path, speed=0)
    return case, path, result, journals(p.run_dir), decisions(p.run_dir)


def test_a_replay_run_twice_gives_identical_journals_fills_and_positions(tmp_path, calm):
    case, path, first, first_journals, _ = calm
    p, second = _run(tmp_path, case, path, speed=0)
    assert first["fills"], "the session must trade for this test to mean anything"
    roles = {f["role"] for f in first["fills"]}
    assert {"ENTRY", "STOP", "TARGET", "SQUAREOFF"} <= roles, roles
    assert first == second
    difference = first_difference(first_journals, journals(p.run_dir))
    assert difference is None, difference
    if case.replay is nse_case:
        facts = nse_case.session_facts(p.run_dir)
        assert facts["days"] == facts["entry_days"] == set(nse_case.SESSIONS), facts
        assert facts["strategies"] == {s["name"] for s in nse_case.STRATEGIES}, facts
        assert facts["open_at_day_end"] == {} and facts["legs_of_earlier_days"] == [], facts
        first_halt = min(facts["halted_days"], default=None)
        assert first_halt and max(facts["entry_days"]) > first_halt, (
            f"no trading after a day's halt: {facts}"
        )


def _ticks_flowing(p: Pipeline) -> bool:
    """The feed is inside a session now (its tick count moves), or the run is over."""
    before = p.stage("feed").get("counters", {}).get("ticks")
    time.sleep(0.1)
    after = p.stage("feed").get("counters", {}).get("ticks")
    return p.proc.poll() is not None or (
        before is not None and after is not None and before != after
    )


def test_random_kills_and_a_hang_change_nothing_at_the_broker(tmp_path, calm):
    case, path, undisturbed, _, undisturbed_decisions = calm
    if case.replay is not nse_case and not os.environ.get("OTRADE_CHAOS_ALL"):
        # The suite's 15 minutes: the two-strategy, three-day case kills every stage in and out of
        # session, and tests/chaos/test_exactly_once_brokers.py kills at random on one-day runs at
        # the local Kite and Upstox venues. OTRADE_CHAOS_ALL=1 runs this case too.
        pytest.skip("one case is enough in the suite: the two-strategy, three-day one")
    seed = int(os.environ.get("OTRADE_CHAOS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    kills = []

    def disturb(p: Pipeline):
        shuffled = [s for s in STAGES if s != "feed"] if case.feed_last else list(STAGES)
        plan = shuffled * case.kills_per_stage     # every stage killed, several times
        rng.shuffle(plan)
        plan.insert(rng.randrange(len(plan)), "STOP")
        plan += ["feed"] if case.feed_last else []
        for what in plan:
            if p.proc.poll() is not None:
                break
            if rng.random() < case.in_session_share:
                eventually(lambda: _ticks_flowing(p), timeout=60, message="ticks flow")
            time.sleep(rng.uniform(*case.pause_s))
            name = rng.choice(["orders", "signals"]) if what == "STOP" else what
            pid = p.stage(name).get("pid", 0)
            if not pid or p.proc.poll() is not None:
                continue
            os.kill(pid, signal.SIGSTOP if what == "STOP" else signal.SIGKILL)
            kills.append(
                (round(time.monotonic(), 3), "SIGSTOP" if what == "STOP" else "SIGKILL", name, pid)
            )
            eventually(lambda: p.proc.poll() is not None or p.stage(name).get("state") == "ready"
                       and p.stage(name).get("pid") != pid, timeout=20, message=f"{name} back")

    p, chaos = _run(tmp_path, case, path, speed=case.chaos_speed, disturb=disturb)
    print(f"chaos seed {seed}; kills: {kills}")
    assert len([k for k in kills if k[1] == "SIGKILL"]) >= case.min_kills, kills
    restarts = [e for e in p.events() if e["kind"] == "restart"]
    assert len(restarts) >= case.min_kills, restarts
    for key in ("broker_orders", "fills", "positions", "realised_pnl_inr"):
        assert chaos[key] == undisturbed[key], f"{key} differs after kills {kills} (seed {seed})"
    made, calm_made = Counter(decisions(p.run_dir)), Counter(undisturbed_decisions)
    assert made == calm_made, (f"orders decided differently after kills {kills} (seed {seed}): "
                               f"only with kills {list((made - calm_made).elements())[:5]}, "
                               f"only undisturbed {list((calm_made - made).elements())[:5]}")


def test_a_killed_supervisor_restarted_on_its_run_dir_ends_as_if_undisturbed(tmp_path, calm):
    """SIGKILL the supervisor itself mid-session (every stage goes with it), start it again on the
    same run dir: the replay resumes where its journals say and ends with the undisturbed
    outcome."""
    case, path, undisturbed, _, undisturbed_decisions = calm
    if case.replay is not nse_case:
        pytest.skip("one case is enough here: the two-strategy, three-day one")
    seed = int(os.environ.get("OTRADE_CHAOS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    p = Pipeline(tmp_path, case.replay.overrides(path, case.chaos_speed))
    with p:
        p.wait_running()
        eventually(
            lambda: (
                p.proc.poll() is not None
                or p.stage("orders").get("counters", {}).get("orders", 0) > 0
            ),
            timeout=120,
            message="orders placed something",
        )
        time.sleep(rng.uniform(0.0, 1.5))
        assert p.proc.poll() is None, "the replay ended before the supervisor could be killed"
        children = p.descendants()
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait(timeout=30)
    eventually(
        lambda: not alive(children), timeout=30, message="the killed supervisor's stages are gone"
    )
    with p:                                   # the same config and run dir: the next start resumes
        code = p.wait_exit(timeout=300)
    assert code == 0, p.output()[-4000:]
    assert p.leftovers() == {"segments": [], "sockets": []}
    resumed = outcome(p.run_dir)
    print(f"supervisor killed (seed {seed})")
    for key in ("broker_orders", "fills", "positions", "realised_pnl_inr"):
        assert resumed[key] == undisturbed[key], (
            f"{key} differs after the supervisor was killed (seed {seed})"
        )
    assert Counter(decisions(p.run_dir)) == Counter(undisturbed_decisions), (
        f"decisions differ (seed {seed})"
    )
