"""The stop policy against the local Kite venue (issue 11.3): a stop (SIGTERM, or the SIGHUP of a
closed terminal) with brackets open leaves nothing working at the venue and no position, and says
so; with `run.on_stop: leave` the legs stay working, and stderr, summary.json and exit code 5 say
which.

What is at the venue is read back from the venue's own journal (venue_kite.jsonl: every placement,
cancel and fill it executed), not from anything the engine wrote.
"""

import json
import os
import signal

import pytest

from tests.chaos.harness import Pipeline, hosted_venue
from tests.integration.example_run import ROOT, read_jsonl
from tests.support import eventually

pytestmark = pytest.mark.slow
EXIT_LEFT_AT_BROKER = 5
STOP_GRACE_S = 1.5        # tests/chaos/harness.py's supervisor.stop_grace_ms


def _example(on_stop: str) -> dict:
    with open(os.path.join(ROOT, "config", "examples", "kite-local.json")) as f:
        example = json.load(f)
    example["run"] = {"on_stop": on_stop}
    # Below the Kite client's own 10 calls/s: at 10 placements/s plus cancels, its client-side limit
    # refuses calls and the engine records those orders as in doubt (a separate finding), which is
    # not what these tests are about.
    example["risk"]["rate_per_sec"] = 4
    return example


def _legs_submitted(run_dir: str) -> int:
    path = os.path.join(run_dir, "orders.jsonl")
    if not os.path.exists(path):
        return 0
    return sum(
        1
        for r in read_jsonl(path)
        if r.get("type") == "OrderSubmitting" and r.get("role") in ("STOP", "TARGET")
    )


def venue_orders(run_dir: str) -> dict:
    """client order id -> {symbol, side, qty, filled, working} of every order the venue took."""
    orders: dict = {}
    for r in read_jsonl(os.path.join(run_dir, "venue_kite.jsonl")):
        if r["k"] == "place":
            orders[r["boid"]] = {"coid": r["coid"], "symbol": r["symbol"], "side": int(r["side"]),
                                 "qty": int(r["qty"]), "filled": 0,
                                 "working": r["status"] not in ("REJECTED", "CANCELED", "FILLED")}
        elif r["k"] == "cancel":
            orders[r["boid"]]["working"] = False
        elif r["k"] == "fill":
            o = orders[r["boid"]]
            o["filled"] += int(r["qty"])
            o["working"] = o["working"] and o["filled"] < o["qty"]
    return {o["coid"]: o for o in orders.values()}


def venue_state(run_dir: str) -> tuple[dict, dict]:
    """(working orders' client ids -> symbol, net position by symbol) at the venue, from its
    journal."""
    orders, working, position = {}, {}, {}
    for r in read_jsonl(os.path.join(run_dir, "venue_kite.jsonl")):
        if r["k"] == "place":
            orders[r["boid"]] = {
                "symbol": r["symbol"],
                "side": int(r["side"]),
                "qty": int(r["qty"]),
                "filled": 0,
                "coid": r["coid"],
            }
            if r["status"] not in ("REJECTED", "CANCELED", "FILLED"):
                working[r["coid"]] = r["symbol"]
        elif r["k"] == "cancel":
            working.pop(orders[r["boid"]]["coid"], None)
        elif r["k"] == "fill":
            o = orders[r["boid"]]
            o["filled"] += int(r["qty"])
            position[o["symbol"]] = position.get(o["symbol"], 0) + o["side"] * int(r["qty"])
            if o["filled"] >= o["qty"]:
                working.pop(o["coid"], None)
    return working, {s: q for s, q in position.items() if q}


def _stop_with_brackets_open(tmp_path, on_stop: str, sig: int):
    with Pipeline(tmp_path, _example(on_stop)) as p:
        p.wait_running()
        eventually(lambda: _legs_submitted(p.run_dir) >= 4, timeout=90, message="brackets opened")
        p.proc.send_signal(sig)
        code = p.wait_exit(timeout=120)
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        summary = json.load(f)
    return p, code, summary


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stop_when_brackets_are_open_and_on_stop_is_flatten_then_nothing_is_left_at_the_venue(
    tmp_path, sig
):
    p, code, summary = _stop_with_brackets_open(tmp_path, "flatten", sig)
    assert code == 0, p.output()[-3000:]
    assert summary["reason"] == f"signal {signal.Signals(sig).name}"
    assert summary["stop"]["policy"] == "flatten" and summary["stop"]["source"] == "broker"
    assert summary["left_at_broker"] == {"working_orders": {}, "positions": {}}, summary["stop"]
    assert summary["drain"]["complete"], summary["drain"]
    working, positions = venue_state(p.run_dir)
    assert working == {} and positions == {}
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_stop_when_on_stop_is_leave_then_legs_stay_working_and_stderr_summary_and_exit_5_list_them(
    tmp_path,
):
    p, code, summary = _stop_with_brackets_open(tmp_path, "leave", signal.SIGTERM)
    assert code == EXIT_LEFT_AT_BROKER, p.output()[-3000:]
    final = venue_orders(p.run_dir)
    working = {coid for coid, o in final.items() if o["working"]}
    assert working, "no leg was working at the venue at the stop"
    left = summary["left_at_broker"]
    listed = {o["client_order_id"]: o for orders in left["working_orders"].values() for o in orders}
    # The venue's market goes on after orders read it at the stop (until the run has exited), so a
    # leg listed as working may fill meanwhile (seen under load). Nothing working at the end went
    # unlisted, and every listed leg is still working or has filled since: none was cancelled.
    assert working <= set(listed), working - set(listed)
    assert all(final[c]["filled"] == final[c]["qty"] for c in set(listed) - working)
    # The positions as listed: the venue's at the end less what the listed legs filled since.
    _, positions = venue_state(p.run_dir)
    for coid, o in listed.items():
        v = final[coid]
        later = v["side"] * (v["filled"] - int(o["filled_qty"]))
        positions[v["symbol"]] = positions.get(v["symbol"], 0) - later
    assert left["positions"] == {s: q for s, q in positions.items() if q}
    out = p.output()
    assert "LEFT AT THE BROKER at stop (run.on_stop=leave)" in out
    for symbol in left["working_orders"]:
        assert f"  {symbol}: " in out
    # Entries were cancelled: only bracket legs (never an ENTRY) are left working.
    sent = {
        r["client_order_id"]: r["role"]
        for r in read_jsonl(os.path.join(p.run_dir, "orders.jsonl"))
        if r.get("type") == "OrderSubmitting"
    }
    assert {
        sent[o["client_order_id"]] for orders in left["working_orders"].values() for o in orders
    } <= {"STOP", "TARGET"}


def test_stop_when_the_broker_answers_cancels_slower_than_the_stop_grace_then_the_flatten_finishes(
    tmp_path,
):
    """A broker call is a unit of the stop's work that may take up to its timeout (Kite's 7 s): the
    stop ladder used to count it as silence and SIGKILL orders half-way through its flatten when
    one call outlasted stop_grace_ms (1.5 s here), leaving its orders working and positions open
    with nothing managing them (exit 6). Here the venue answers the stop's first cancels 3 s
    late: slow, but within the call's bound."""
    example = _example("flatten")
    with hosted_venue(tmp_path / "venue", example) as (venue, pointed):
        with Pipeline(tmp_path, pointed) as p:
            p.wait_running()
            eventually(lambda: _legs_submitted(p.run_dir) >= 4, timeout=90,
                       message="brackets opened")
            # longer than the grace and the SIGTERM grace after it together
            venue.rest.fail_next("delay", 2, delay_s=2 * STOP_GRACE_S, route="DELETE /orders")
            p.proc.send_signal(signal.SIGTERM)
            code = p.wait_exit(timeout=120)
        slow = venue.rest.count("DELETE", "/orders")
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        summary = json.load(f)
    assert slow >= 1, "the stop sent no cancel: nothing was slow"
    assert code == 0, p.output()[-3000:]
    assert summary["drain"] == {"complete": True, "incomplete": []}, summary["drain"]
    assert summary["left_at_broker"] == {"working_orders": {}, "positions": {}}, summary["stop"]
    assert [e for e in p.events() if e["kind"] == "signal"] == []
    working, positions = venue_state(str(tmp_path / "venue"))
    assert working == {} and positions == {}
