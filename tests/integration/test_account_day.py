"""The broker account's trading day outlives runs (issue 11.1), with the real `python
supervisor.py`.

Before: a start with a fresh run dir began the account's day from nothing (the brackets an earlier
run left working were nobody's; day P&L and the day's order counts from zero), and a start on the
old run dir numbered its ticks from 1 again, below the journal's marks (no exit managed for ~21 s,
intents dropped as "redelivered"). Each test has its own account home (tests/conftest.py), shared by
its runs.
"""

import collections
import datetime as dt
import glob
import html
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from common.clock import ist_date
from orders import statemachine as sm
from tests.chaos.harness import ROOT, Pipeline, alive, hosted_venue, merge, paper_on_a_live_feed
from tests.support import eventually

pytestmark = pytest.mark.slow
LEAVE = {"run": {"on_stop": "leave"}}
WORKING = (sm.ACCEPTED, sm.PARTIALLY_FILLED)   # the venue's paper book: a leg still working


def _records(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _day_dir(p: Pipeline) -> str:
    with open(os.path.join(p.run_dir, "account.json")) as f:
        return json.load(f)["dir"]


def _marks(records) -> list[int]:
    return [r["upto_seq"] for r in records if r["type"] == "TicksProcessed"]


def _run(tmp_path, live: dict, duration="6") -> Pipeline:
    """A run of the paper account on the venue's live feed, leaving what it holds for the next
    start."""
    with Pipeline(tmp_path, merge(live, LEAVE), args=["--duration", duration]) as p:
        code = p.wait_exit(timeout=120)
    # 3: a later run may begin HALTED after a leave-stop
    assert code in (0, 3), p.output()[-3000:]
    assert p.leftovers() == {"segments": [], "sockets": []}
    return p


@pytest.fixture(scope="module")
def paper_days(tmp_path_factory):
    """One paper account on the venue's live feed, its runs in a trader's order: a first run; a
    second the same day with a fresh run dir (asked `ctl status` while it runs, its report drawn);
    then the account's day renamed to yesterday, as if those runs had traded then; a third run
    (settles it) and a fourth (settles nothing more). What each test reads is kept as it was then.
    """
    tmp_path = tmp_path_factory.mktemp("paper-days")
    seen = {}
    with pytest.MonkeyPatch.context() as env, paper_on_a_live_feed(tmp_path / "venue") as (_, live):
        # module-scoped: the per-test account home (tests/conftest.py) is not set yet
        env.setenv("OTRADE_ACCOUNT_HOME", str(tmp_path_factory.mktemp("accounts")))
        seen["first"] = first = _run(tmp_path, live)
        day = seen["day"] = _day_dir(first)
        seen["before"] = _records(os.path.join(day, "orders.jsonl"))
        with Pipeline(tmp_path, merge(live, merge(LEAVE, {"run": {"report": True}})),
                      args=["--duration", "6"]) as second:
            second.wait_running()
            seen["status"] = _ctl_status(tmp_path, second.run_dir)
            code = second.wait_exit(timeout=120)
        assert code in (0, 3), second.output()[-3000:]
        seen["second"] = second
        seen["after"] = _records(os.path.join(day, "orders.jsonl"))
        yesterday = seen["yesterday"] = os.path.join(
            os.path.dirname(day), (ist_date(_now()) - dt.timedelta(days=1)).isoformat()
        )
        os.rename(day, yesterday)
        seen["third"] = _run(tmp_path, live)
        seen["today"] = _records(os.path.join(day, "orders.jsonl"))
        seen["fourth"] = _run(tmp_path, live)
    return seen


def _ctl_status(tmp_path, run_dir: str) -> dict:
    answer = subprocess.run(
        [sys.executable, f"{ROOT}/supervisor.py", "ctl", "status", "--run-dir", run_dir],
        capture_output=True, text=True, cwd=str(tmp_path), timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def test_second_run_when_a_fresh_run_dir_on_the_same_day_then_it_resumes_the_account_day(
    paper_days,
):
    first, second, day = paper_days["first"], paper_days["second"], paper_days["day"]
    for private in (paper_days["yesterday"], os.path.dirname(day)):
        assert oct(os.stat(private).st_mode & 0o777) == "0o700", private
    assert "starting account paper-default day" in first.output()
    before, after = paper_days["before"], paper_days["after"]
    high = max(_marks(before)) - 1
    opened = {r["client_order_id"] for r in before if r["type"] == "OrderSubmitting"}
    assert opened, "the first run placed nothing: the test would show nothing"

    assert second.run_dir != first.run_dir
    with open(os.path.join(second.run_dir, "account.json")) as f:
        assert json.load(f)["dir"] == day
    assert f"resuming account paper-default day {os.path.basename(day)}" in second.output()
    assert f"ticks from {high + 1}" in second.output()
    assert after[:len(before)] == before                     # one journal for the day, appended to
    added = after[len(before):]
    # the new ring numbers above the old marks
    assert _marks(added) and min(_marks(added)) > high
    submitted = [r["client_order_id"] for r in after if r["type"] == "OrderSubmitting"]
    assert len(submitted) == len(set(submitted)), "a client order id was placed twice in the day"
    raised = [r["intent_id"] for r in _records(os.path.join(second.run_dir, "signals.jsonl"))]
    assert raised and all(int(i.rpartition(":")[2]) > high for i in raised)
    # The second run's book is the day's: the first run's fills are in its positions.
    with open(os.path.join(second.run_dir, "positions.json")) as f:
        book = {q["symbol"]: q for q in json.load(f)["positions"]}
    fills = [r for r in after if r["type"] == "OrderFilled"]
    bought: dict = {}
    for r in fills:
        bought[r["symbol"]] = bought.get(r["symbol"], 0) + r["side"] * r["qty"]
    assert {s: q["qty"] for s, q in book.items() if q["qty"]} == {
        s: q for s, q in bought.items() if q
    }
    assert sum(q["buy_qty"] + q["sell_qty"] for q in book.values()) == sum(r["qty"] for r in fills)


def _added_and_day(paper_days) -> tuple[collections.Counter, collections.Counter]:
    """Record types the second run added to the day's journal, and the day's totals."""
    before, after = paper_days["before"], paper_days["after"]
    return (collections.Counter(r["type"] for r in after[len(before):]),
            collections.Counter(r["type"] for r in after))


def test_ctl_status_when_the_run_resumed_the_account_day_then_it_names_the_day_it_shows(paper_days):
    """Seen: the second run of the day answered status with this run's order counters beside the
    day's positions, and nothing in the answer said which account or day it was."""
    status = paper_days["status"]
    # day vs run
    assert status["positions"]["fills_applied"] > status["stages"]["orders"]["counters"]["fills"]
    assert paper_days["day"] in json.dumps(status), sorted(status)


def test_summary_when_a_run_resumes_the_account_day_then_its_order_counts_are_its_own_or_labelled_as_the_days(  # noqa: E501 - the name is the test's sentence
    paper_days,
):
    added, _ = _added_and_day(paper_days)
    with open(os.path.join(paper_days["second"].run_dir, "summary.json")) as f:
        orders = json.load(f)["stages"]["orders"]
    labelled_as_day = all(
        "day" in str(orders["counted_from"][k]) for k in ("orders", "fills", "denials")
    )
    own = (orders["counters"]["orders"] == added["OrderSubmitting"]
           and orders["counters"]["fills"] == added["OrderFilled"]
           and orders["counters"]["denials"] == added["OrderDenied"])
    assert own or labelled_as_day, (orders["counters"], orders["counted_from"], dict(added))


def test_report_when_a_run_resumes_the_account_day_then_its_figures_are_its_own_or_labelled_as_the_days(  # noqa: E501 - the name is the test's sentence
    paper_days,
):
    added, day = _added_and_day(paper_days)
    assert day["OrderSubmitting"] != added["OrderSubmitting"], (
        "the runs cannot be told apart: the test shows nothing"
    )
    second = paper_days["second"]
    assert "run report written" in second.output()
    with open(os.path.join(second.run_dir, "report.html")) as f:
        text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", f.read())))
    shown = int(re.search(r"Orders submitted (\d+)", text).group(1))
    labelled_as_day = "account day" in text.lower() or "the day's" in text.lower()
    assert shown == added["OrderSubmitting"] or labelled_as_day, (shown, dict(added))


def test_start_when_the_account_traded_an_earlier_day_then_that_day_is_settled_first(paper_days):
    yesterday, today = paper_days["yesterday"], paper_days["day"]
    journal = paper_days["after"]                  # yesterday's, as the third run found it
    left: dict = {}
    for r in journal:
        if r["type"] == "OrderFilled":
            left[r["symbol"]] = left.get(r["symbol"], 0) + r["side"] * r["qty"]
    high = max(_marks(journal)) - 1

    third = paper_days["third"]
    assert "settled the account's previous day" in third.output()
    with open(os.path.join(yesterday, "settlement.json")) as f:
        settled = json.load(f)
    assert settled["open_positions"] == {s: q for s, q in sorted(left.items()) if q}
    assert f"starting account paper-default day {os.path.basename(today)}" in third.output()
    assert f"ticks from {high + 1}" in third.output()    # tags never repeat for one account
    with open(os.path.join(third.run_dir, "positions.json")) as f:
        book = json.load(f)["positions"]
    # yesterday is not today's book
    today_fills = sum(r["qty"] for r in paper_days["today"] if r["type"] == "OrderFilled")
    assert sum(q["buy_qty"] + q["sell_qty"] for q in book) == today_fills
    assert "settled the account's previous day" not in paper_days["fourth"].output()   # once


def test_sim_run_when_started_twice_the_same_day_then_each_keeps_its_state_in_its_run_dir(tmp_path):
    """The sim is a market of its own that opens at 09:15 in every run: it keeps no account day."""
    for _ in range(2):
        with Pipeline(tmp_path, LEAVE, args=["--duration", "1"]) as p:
            assert p.wait_exit(timeout=120) == 0, p.output()[-3000:]
        assert "account" not in p.output().split("OTrade run")[0]
        assert not os.path.exists(os.path.join(p.run_dir, "account.json"))
        assert os.path.isfile(os.path.join(p.run_dir, "orders.jsonl"))
        assert not os.path.islink(os.path.join(p.run_dir, "orders.jsonl"))
    # no day made
    assert glob.glob(os.path.join(os.environ["OTRADE_ACCOUNT_HOME"], "*", "20*")) == []
    assert "run report not drawn (run.report is false)" in p.output()
    assert not os.path.exists(os.path.join(p.run_dir, "report.html"))


def _now() -> int:
    import time

    return time.time_ns()


def _venue_config(name: str) -> dict:
    """The local venue's example config, with tight legs (brackets close while the runs watch) and
    no limit that binds."""
    with open(os.path.join(ROOT, "config", "examples", f"{name}-local.json")) as f:
        cfg = json.load(f)
    cfg["strategies"] = [
        {
            "name": "mac",
            "kind": "ma_crossover",
            "params": {"fast": 10, "slow": 30, "stop_loss_pct": 0.2, "target_pct": 0.2},
        }
    ]
    cfg["risk"] = {
        "enforce_session": False,
        "max_open_orders": 1000,
        "rate_per_sec": 50,
        "rate_per_min": 1000,
        "rate_per_day": 5000,
        "daily_loss_limit_inr": 1e9,
    }
    return cfg


def _both_filled(day_dir: str, status: dict) -> set:
    """Brackets (ids from the day's journal) whose stop and target have both filled at the venue."""
    legs: dict = {}
    for r in _records(os.path.join(day_dir, "orders.jsonl")):
        if r["type"] == "OrderSubmitting" and r["role"] in ("STOP", "TARGET"):
            legs.setdefault(r["bracket_id"], set()).add(r["client_order_id"])
    return {
        b for b, ids in legs.items() if len({t[:1] for t in ids if status.get(t) == sm.FILLED}) > 1
    }


def _legs_at(venue) -> dict:
    """tag -> status of every stop or target leg at the venue."""
    exchange = venue.rest.exchange
    with exchange.lock:
        return {
            o.client_order_id: o.status
            for o in exchange.paper.orders()
            if o.client_order_id[:1] in "ST"
        }


@pytest.mark.parametrize("name", ["kite", "upstox"])
def test_supervisor_when_sigkilled_with_legs_working_then_a_fresh_start_adopts_and_closes_every_bracket_once(  # noqa: E501 - the name is the test's sentence
    tmp_path, name
):
    with hosted_venue(tmp_path / "venue", _venue_config(name)) as (venue, pointed):
        first = Pipeline(tmp_path, pointed)
        with first:
            first.wait_running()
            eventually(lambda: sum(1 for s in _legs_at(venue).values() if s in WORKING) >= 4,
                       timeout=60, message="legs working at the venue")
            children = first.descendants()
            # no stop policy runs: the legs stay working
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=30)
            # While no run is up, the venue's market stands still: a leg that filled with nobody
            # watching would be no test of the next start (its twin is then a naked order until
            # then).
            venue._last_advance = float("inf")
        eventually(lambda: not alive(children), timeout=30, message="the first run's stages gone")
        venue._last_advance = float("inf")
        orphaned = {t for t, s in _legs_at(venue).items() if s in WORKING}
        assert orphaned
        # before the kill, or in the venue's race
        unwatched = _both_filled(_day_dir(first), _legs_at(venue))

        second = Pipeline(tmp_path, pointed, args=["--duration", "6"])    # a fresh run dir
        with second:
            code = second.wait_exit(timeout=180)
        assert code == 0, second.output()[-4000:]
        assert f"resuming account {name}-local-" in second.output()
        status = _legs_at(venue)
        both = _both_filled(_day_dir(second), status)
        with venue.rest.exchange.lock:
            tags = [o.client_order_id for o in venue.rest.exchange.paper.orders()]
    assert len(tags) == len(set(tags)), "a client order id was placed twice at the venue"
    # Every leg the dead run left is now done, and no bracket had both legs fill: the adopted OCO
    # held.
    assert all(status[t] in (sm.FILLED, sm.CANCELED) for t in orphaned), {
        t: status[t] for t in orphaned
    }
    assert both <= unwatched, (
        f"brackets whose second leg filled under the second run: {both - unwatched}"
    )
    assert not [t for t, s in status.items() if s in WORKING]   # the stop flattened
