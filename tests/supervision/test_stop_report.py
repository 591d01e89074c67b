"""What a stop left at the broker decides the exit code and is said on stderr (issue 11.3).
The orders side (orders/onstop.py) runs end to end in tests/integration/test_stop_policy.py."""

import json
from types import SimpleNamespace

from supervision.core import EXIT_HALTED, EXIT_LEFT_AT_BROKER, EXIT_OK, Outcome
from supervision.session import Session
from supervision.summary import left_lines, stop_report

LEFT = {
    "working_orders": {
        "SBIN": [
            {
                "client_order_id": "C1",
                "broker_order_id": "B1",
                "side": -1,
                "qty": 2,
                "filled_qty": 0,
                "order_type": "SL-M",
                "status": "ACCEPTED",
            }
        ]
    },
    "positions": {"SBIN": 2},
}


def _session(broker: str) -> Session:
    return Session(
        SimpleNamespace(config=SimpleNamespace(broker=SimpleNamespace(name=broker))), plan=None
    )


def _write_stop(run_dir, **stop) -> None:
    (run_dir / "orders.summary.json").write_text(json.dumps({"stop": stop}))


def test_stop_when_a_live_broker_is_left_with_legs_then_exit_5_and_stderr_lists_them(
    tmp_path, capsys
):
    _write_stop(
        tmp_path, policy="leave", paper=False, left_at_broker=LEFT, note="left for the next start"
    )
    outcome = Outcome(exit_code=EXIT_OK, reason="signal SIGTERM")
    _session("kite")._judge_stop(str(tmp_path), outcome)
    err = capsys.readouterr().err
    assert outcome.exit_code == EXIT_LEFT_AT_BROKER and "left at the broker" in outcome.reason
    assert "LEFT AT THE BROKER at stop (run.on_stop=leave)" in err
    assert "  SBIN: 1 working: SELL 2 SL-M" in err and "  SBIN: position +2 open" in err


def test_stop_when_nothing_is_left_then_the_exit_code_and_stderr_are_unchanged(tmp_path, capsys):
    _write_stop(
        tmp_path,
        policy="flatten",
        paper=False,
        left_at_broker={"working_orders": {}, "positions": {}},
    )
    outcome = Outcome(exit_code=EXIT_OK, reason="duration reached")
    _session("kite")._judge_stop(str(tmp_path), outcome)
    assert outcome.exit_code == EXIT_OK and capsys.readouterr().err == ""


def test_stop_when_paper_is_left_open_then_it_is_said_but_the_exit_code_stays(tmp_path, capsys):
    _write_stop(
        tmp_path,
        policy="flatten",
        paper=True,
        left_at_broker={"working_orders": {}, "positions": {"TCS": -1}},
        note="paper: the feed has stopped",
    )
    outcome = Outcome(exit_code=EXIT_OK, reason="feed finished")
    _session("paper")._judge_stop(str(tmp_path), outcome)
    assert outcome.exit_code == EXIT_OK
    assert "LEFT AT THE PAPER ACCOUNT" in capsys.readouterr().err


def test_stop_when_orders_never_finished_its_stop_on_a_live_broker_then_what_is_left_is_unknown(
    tmp_path, capsys
):
    outcome = Outcome(exit_code=EXIT_HALTED, reason="gave up on orders")
    _session("kite")._judge_stop(str(tmp_path), outcome)
    assert outcome.exit_code == EXIT_HALTED                      # the first failure keeps its code
    assert "left at the broker is UNKNOWN" in capsys.readouterr().err
    assert stop_report(str(tmp_path))["left_at_broker"] is None
    assert left_lines({"left_at_broker": {"working_orders": {}, "positions": {}}}) == []
