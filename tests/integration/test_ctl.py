"""Operator controls and reconciliation end to end: a real `python supervisor.py`, driven with
`python supervisor.py ctl ...` as an operator would (issue 11.2, 11.5)."""

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.chaos.harness import ROOT, Pipeline, hosted_venue
from tests.support import eventually

pytestmark = pytest.mark.slow
HALTED_CODE = 4        # orders/risk.py: "trading is halted: no new entries"


def ctl(p: Pipeline, command: str, *, run_dir: bool = True) -> tuple[int, dict, str]:
    """(exit code, printed JSON, stderr) of one `supervisor.py ctl` call against the pipeline's
    run."""
    args = [sys.executable, os.path.join(ROOT, "supervisor.py"), "ctl", command]
    if run_dir:
        args += ["--run-dir", p.run_dir]
    out = subprocess.run(
        args,
        env=dict(os.environ, OTRADE_REGISTRY_DIR=p.registry),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.returncode, json.loads(out.stdout) if out.stdout.strip() else {}, out.stderr


def journal(p: Pipeline, name: str) -> list[dict]:
    path = os.path.join(p.run_dir, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def open_positions(p: Pipeline) -> list:
    return [x for x in (p.health() or {}).get("positions", {}).get("positions", []) if x["qty"]]


def test_ctl_halt_resume_flatten_end_to_end_each_journaled_and_shown(tmp_path):
    with Pipeline(tmp_path, {"strategies": [{"name": "mac", "kind": "ma_crossover",
                                             "params": {"fast": 5, "slow": 20}}]}) as p:
        p.wait_running()
        code, status, _ = ctl(p, "status", run_dir=False)  # found through the run registry
        assert (
            code == 0
            and status["run_id"] == p.run_id
            and set(status["stages"]) == set(p.health()["stages"])
        )
        assert "ctl" in status["operator"]["hint"]

        code, answer, err = ctl(p, "halt")
        assert code == 0 and answer["trading_state"] == "HALTED", err
        halted_at = len(journal(p, "orders.jsonl"))
        eventually(lambda: any(r["type"] == "OrderDenied" and r["reason_code"] == HALTED_CODE
                               for r in journal(p, "orders.jsonl")[halted_at:]), timeout=60,
                   message="an entry denied while halted")
        assert not any(r["type"] == "OrderSubmitting" and r["role"] == "ENTRY"
                       for r in journal(p, "orders.jsonl")[halted_at:])

        code, answer, err = ctl(p, "resume")
        assert code == 0 and answer["trading_state"] == "ACTIVE", err
        eventually(lambda: open_positions(p), timeout=60, message="a position open to flatten")
        code, answer, err = ctl(p, "flatten")
        assert code == 0 and answer["trading_state"] == "HALTED", err
        assert open_positions(p) == []
        shown = [c["cmd"] for c in p.health()["operator"]["commands"]]
    assert [r["cmd"] for r in journal(p, "ctl.jsonl")] == ["halt", "resume", "flatten"] == shown
    assert all(
        r["ok"] and r["ts"] and r["reason"] == f"operator: ctl {r['cmd']}"
        for r in journal(p, "ctl.jsonl")
    )
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        summary = json.load(f)
    assert [c["cmd"] for c in summary["operator_commands"]] == ["halt", "resume", "flatten"]
    assert p.leftovers() == {"segments": [], "sockets": []}


def _kite_overrides() -> dict:
    with open(os.path.join(ROOT, "config", "examples", "kite-local.json")) as f:
        example = json.load(f)
    return {"instruments": example["instruments"], "broker": example["broker"],
            "feed": {"source": "kite"}, "risk": {"enforce_session": False}}


PLANTED = {
    "order_id": "990000001",
    "tag": "EPLANTED000000000000",
    "instrument_token": 738561,
    "tradingsymbol": "RELIANCE",
    "transaction_type": "BUY",
    "quantity": 1,
    "order_type": "LIMIT",
    "price": 1000.0,
    "trigger_price": 0,
    "status": "OPEN",
    "filled_quantity": 0,
    "average_price": 0,
}


def test_ctl_adopt_when_orders_restarted_after_the_reconcile_halt_then_trading_resumes(tmp_path):
    """The halt's cause is in orders' journal: a restarted orders knows reconciliation halted
    trading, and `ctl adopt` ends that halt (it used to take the broker's view and leave the trader
    HALTED, since only the dead process remembered whose halt it was)."""
    with hosted_venue(tmp_path / "venue", _kite_overrides()) as (venue, pointed):
        with Pipeline(tmp_path, pointed) as p:
            p.wait_running()
            eventually(lambda: p.health()["reconcile"].get("last", {}).get("checks"), timeout=30,
                       message="the start reconciliation ran")
            venue.rest.plant("GET /orders", [PLANTED])
            code, answer, err = ctl(p, "reconcile")
            assert code == 0 and answer["clean"] is False, err
            assert p.health()["trading_state"] == "HALTED"
            dead = p.stage("orders")["pid"]
            os.kill(dead, signal.SIGKILL)
            eventually(lambda: p.stage("orders").get("pid") not in (0, dead)
                       and p.stage("orders").get("state") == "ready", timeout=60,
                       message="orders restarted")
            assert p.health()["trading_state"] == "HALTED"        # as journaled
            code, answer, err = ctl(p, "adopt")
            assert code == 0 and answer["trading_state"] == "ACTIVE", (answer, err)
            assert PLANTED["tag"] in answer["baseline"]["adopted_ids"]
            venue.rest.plant("GET /orders", [])
        assert p.exit_code == 0, p.output()[-3000:]


def test_a_planted_broker_order_halts_trading_naming_it_until_ctl_adopt(tmp_path):
    with hosted_venue(tmp_path / "venue", _kite_overrides()) as (venue, pointed):
        with Pipeline(tmp_path, pointed) as p:
            p.wait_running()
            eventually(lambda: p.health()["reconcile"].get("last", {}).get("checks"), timeout=30,
                       message="the start reconciliation ran")
            assert p.health()["trading_state"] == "ACTIVE"
            # an order of ours the journal never sent
            venue.rest.plant("GET /orders", [PLANTED])
            code, answer, err = ctl(p, "reconcile")
            assert code == 0 and answer["clean"] is False, err
            assert any(PLANTED["tag"] in d for d in answer["differences"])
            health = p.health()
            assert (
                health["trading_state"] == "HALTED"
                and PLANTED["tag"] in health["trading_state_reason"]
            )
            assert PLANTED["tag"] in health["reconcile"]["outstanding"][0]

            code, answer, err = ctl(p, "resume")               # never ACTIVE on a mismatch
            assert code == 1 and answer["ok"] is False and "differs" in answer["error"]
            assert p.health()["trading_state"] == "HALTED"

            code, answer, err = ctl(p, "adopt")
            assert code == 0 and answer["trading_state"] == "ACTIVE", err
            assert PLANTED["tag"] in answer["baseline"]["adopted_ids"]
            # the adopted view is the baseline now
            code, answer, err = ctl(p, "reconcile")
            assert code == 0 and answer["clean"] is True and p.health()["trading_state"] == "ACTIVE"
            venue.rest.plant("GET /orders", [])
        assert p.exit_code == 0, p.output()[-3000:]
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        summary = json.load(f)
    assert [c["cmd"] for c in summary["operator_commands"]] == [
        "reconcile",
        "resume",
        "adopt",
        "reconcile",
    ]
    assert summary["reconcile"]["ok"] is True
