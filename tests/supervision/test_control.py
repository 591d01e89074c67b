"""The operator's control channel (supervision/control.py, operator.py, ctl.py), without a
pipeline."""

import os
import socket
import threading
import time

import orjson
import pytest

from common.bus import Puller, make_context
from supervision import control
from common.messages import FlattenAll, RequestReconcile, SetTradingState
from common.tradingstate import write_state
from supervision.control import (
    ControlError,
    ControlServer,
    parse_request,
    peer_uid,
    refusal,
    request,
)
from supervision.ctl import socket_of_live_run, socket_of_run_dir
from supervision.operator import OperatorDesk, commands_for, effect
from tests.support import eventually



def serve(ipc_dir, handle, **kw):
    return ControlServer(os.path.join(ipc_dir, "supervisor.ctl"), handle, **kw).start()


def test_control_when_the_owner_sends_a_command_then_the_handler_answers_it(ipc_dir):
    seen = []
    server = serve(
        ipc_dir, lambda cmd, reason: seen.append((cmd, reason)) or {"ok": True, "cmd": cmd}
    )
    try:
        assert request(server.path, "halt", "lunch") == {"ok": True, "cmd": "halt"}
        assert seen == [("halt", "lunch")]
        assert os.stat(server.path).st_mode & 0o777 == 0o600
    finally:
        server.stop()
    assert not os.path.exists(server.path)        # nothing left behind


def test_control_when_the_peer_is_another_uid_then_refused_and_nothing_runs(ipc_dir):
    seen = []
    server = serve(
        ipc_dir,
        lambda cmd, reason: seen.append(cmd) or {"ok": True},
        uid_of=lambda conn: os.geteuid() + 1,
    )
    try:
        answer = request(server.path, "flatten")
    finally:
        server.stop()
    assert answer["ok"] is False and "refused" in answer["error"] and seen == []


def test_request_when_the_server_answered_and_closed_before_it_was_sent_then_the_answer_is_read():
    # The refusal race CI met: the server refuses a stranger before reading a byte and closes, so
    # the client's request meets a closed socket (EPIPE) while the answer waits in its buffer.
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        theirs.sendall(b'{"ok": false, "error": "refused: peer uid 7"}\n')
        theirs.close()
        line = control.exchange(ours, "the-run", "flatten", "", timeout_s=5.0)
    assert control.parse_answer(line, "the-run") == {"ok": False, "error": "refused: peer uid 7"}


def test_peer_uid_reads_the_connected_process_uid_and_refusal_names_a_stranger():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_uid(a) == os.geteuid()
    assert refusal(os.geteuid()) == ""
    assert "uid 1234" in refusal(1234, own_uid=1000)


@pytest.mark.parametrize("line, why", [(b"not json", "not JSON"), (b"[1]", "object"),
                                       (b'{"cmd": "rm -rf"}', "unknown command"),
                                       (b'{"cmd": "halt", "reason": 7}', "reason")])
def test_parse_request_when_malformed_then_a_named_error(line, why):
    with pytest.raises(ControlError, match=why):
        parse_request(line)


def test_control_when_a_request_is_malformed_then_an_error_answer_and_the_channel_keeps_serving(
    ipc_dir,
):
    server = serve(ipc_dir, lambda cmd, reason: {"ok": True})
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(server.path)
            s.sendall(b'{"cmd": "sudo"}\n')
            assert b"unknown command" in s.recv(4096)
        assert request(server.path, "status") == {"ok": True}
    finally:
        server.stop()


def test_commands_for_flatten_halts_then_flattens_and_adopt_is_a_reconcile_with_adopt():
    halt, flat = commands_for("flatten", "r")
    assert (
        isinstance(halt, SetTradingState)
        and halt.state == "HALTED"
        and isinstance(flat, FlattenAll)
    )
    (adopt,) = commands_for("adopt", "r")
    assert isinstance(adopt, RequestReconcile) and adopt.adopt


def test_effect_when_resume_meets_an_outstanding_difference_then_refused_with_it():
    rec = {"ts_ns": 10, "outstanding": ["unknown_working_order RELIANCE: EPLANTED"]}
    answer = effect("resume", {"trading_state": "HALTED"}, rec, sent_ns=5)
    assert answer["ok"] is False and answer["differences"] == rec["outstanding"]
    # a stale file: wait
    assert effect("resume", {"trading_state": "HALTED"}, rec, sent_ns=11) is None


def test_effect_when_flatten_then_done_only_once_orders_acknowledged_it_and_positions_applied_it_flat():  # noqa: E501 - the name is the test's sentence
    ack = {"sent_ns": 7, "orders_seq": 40}
    open_book = {
        "trading_state": "HALTED",
        "positions": {"last_orders_seq": 40, "positions": [{"symbol": "INFY", "qty": 2}]},
    }
    assert effect("flatten", open_book, {}, 7, ack) is None
    flat = {
        "trading_state": "HALTED",
        "positions": {"last_orders_seq": 40, "positions": [{"symbol": "INFY", "qty": 0}]},
    }
    assert effect("flatten", flat, {}, 7, ack) == {"ok": True}
    # orders has not acted yet
    assert effect("flatten", flat, {}, 7, None) is None
    # an earlier flatten's ack
    assert effect("flatten", flat, {}, 8, ack) is None
    behind = {**flat, "positions": {**flat["positions"], "last_orders_seq": 39}}
    # positions not caught up
    assert effect("flatten", behind, {}, 7, ack) is None
    adopted = effect("flatten", flat, {"adopted_positions": {"INFY": -4}}, 7, ack)
    assert (
        adopted["ok"]
        and adopted["not_closed"] == {"INFY": -4}
        and "close them at the broker" in adopted["note"]
    )


def test_effect_when_halt_or_resume_shows_then_only_orders_acknowledgement_of_it_answers():
    """A state from before the command proves nothing (a loss limit's HALTED lifts next morning; a
    halt lost in an orders restart was never applied): only the record's stamp does."""
    halted, active = {"trading_state": "HALTED"}, {"trading_state": "ACTIVE"}
    assert effect("halt", halted, {}, 10, acked_ns=0) is None        # HALTED already, not by it
    assert effect("halt", halted, {}, 10, acked_ns=9) is None        # an earlier command's ack
    assert effect("halt", halted, {}, 10, acked_ns=10) == {"ok": True}
    assert effect("resume", active, {}, 10, acked_ns=0) is None
    assert effect("resume", active, {}, 10, acked_ns=11) == {"ok": True}


def test_effect_when_orders_refuses_a_resume_then_answered_at_once_with_its_reason():
    """A flatten not done: orders journals HALTED with a reason naming what is left and the way out
    (orders/resume.py), and acknowledges. The operator gets that reason, not a 15 s timeout."""
    why = ("resume refused: the flatten is not done: order E1 (ENTRY BUY 5 SYM0) in doubt, the "
           "broker's book cannot show it: ... then `ctl adopt` releases it; resume once flat (r)")
    refused = {"trading_state": "HALTED", "trading_state_reason": why}
    assert effect("resume", refused, {}, 10, acked_ns=10) == {"ok": False, "error": why}
    assert effect("resume", refused, {}, 10, acked_ns=9) is None       # an earlier refusal


def test_effect_when_reconcile_is_pending_confirmation_then_it_waits_for_the_verdict():
    assert effect("reconcile", {}, {"ts_ns": 9, "pending": ["x"]}, 5) is None
    # orders retries
    assert effect("reconcile", {}, {"ts_ns": 9, "pending": [], "error": "throttled"}, 5) is None
    done = effect("reconcile", {}, {"ts_ns": 9, "pending": [], "outstanding": ["x"]}, 5)
    assert done == {"ok": True, "clean": False, "differences": ["x"]}


def test_operator_desk_when_halt_then_sent_to_orders_waited_for_and_journaled(tmp_path, ipc_dir):
    zmq = make_context()
    endpoint = "ipc://" + os.path.join(ipc_dir, "orders.cmd")
    puller = Puller(zmq, endpoint)
    state = {"trading_state": "ACTIVE"}
    got = []

    def status():      # orders' side: applies the command and acknowledges its stamp
        if (msg := puller.recv_nowait()) is not None:
            got.append(msg)
            state["trading_state"] = msg.state
            write_state(str(tmp_path), msg.state, msg.reason, command_ns=msg.ts_event_ns)
        return dict(state)

    desk = OperatorDesk(str(tmp_path), endpoint, status)
    try:
        answer = desk.handle("halt", "")
        shown = desk.snapshot()["operator"]["commands"]
    finally:
        desk.close()
        puller.close()
        zmq.term()
    assert answer["ok"] is True and answer["trading_state"] == "HALTED"
    assert [(m.state, m.reason) for m in got] == [("HALTED", "operator: ctl halt")]
    lines = [orjson.loads(x) for x in (tmp_path / "ctl.jsonl").read_bytes().splitlines()]
    assert [(r["cmd"], r["ok"]) for r in lines] == [("halt", True)] and "ts" in lines[0]
    assert [c["cmd"] for c in shown] == ["halt"]


def test_operator_desk_when_orders_is_not_listening_then_nothing_sent_and_said(tmp_path, ipc_dir):
    times = iter(range(0, 10**12, 10**9))           # a fake clock: each look is a second later
    desk = OperatorDesk(str(tmp_path), "ipc://" + os.path.join(ipc_dir, "nobody"), lambda: {},
                        clock_ns=lambda: next(times), sleep=lambda s: None)
    try:
        answer = desk.handle("resume", "")
    finally:
        desk.close()
    assert answer["ok"] is False and "not listening" in answer["error"]


def test_ctl_finds_the_one_live_run_and_lists_several(tmp_path):
    one = [{"run_id": "a", "pid": 1, "ipc_dir": "/x/ipc"}]
    assert socket_of_live_run(one) == "/x/ipc/supervisor.ctl"
    with pytest.raises(ControlError, match="no live OTrade run"):
        socket_of_live_run([])
    with pytest.raises(ControlError, match="2 live runs") as e:
        socket_of_live_run(one + [{"run_id": "b", "pid": 2, "ipc_dir": "/y/ipc"}])
    assert "run a" in str(e.value) and "run b" in str(e.value)
    (tmp_path / "run.json").write_bytes(orjson.dumps({"endpoints": {"supervisor.ctl": "ipc:///r/ipc/supervisor.ctl"}}))
    assert socket_of_run_dir(str(tmp_path)) == "/r/ipc/supervisor.ctl"
    with pytest.raises(ControlError, match="no run.json"):
        socket_of_run_dir(str(tmp_path / "nope"))


def test_control_serves_one_operator_while_another_connection_stays_silent(ipc_dir):
    server = serve(ipc_dir, lambda cmd, reason: {"ok": True})
    try:
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        silent.connect(server.path)          # says nothing: dropped after CLIENT_TIMEOUT_S
        answers = []
        t = threading.Thread(
            target=lambda: answers.append(request(server.path, "status", timeout_s=30))
        )
        t.start()
        eventually(lambda: answers, timeout=30, message="the second operator answered")
        t.join()
        silent.close()
    finally:
        server.stop()
    assert answers == [{"ok": True}]


def test_request_when_no_supervisor_listens_then_a_named_error(ipc_dir):
    with pytest.raises(ControlError, match="no supervisor is listening"):
        request(os.path.join(ipc_dir, "supervisor.ctl"), "status")


def test_live_view_when_the_status_has_the_operator_hint_then_it_is_shown_under_the_tables():
    from supervision.dashboard import LiveView
    from supervision.operator import HINT

    snap = {"run_id": "r", "trading_state": "ACTIVE", "stages": {}, "positions": {},
            "operator": {"hint": HINT, "commands": []}}
    group = LiveView()._render(snap, {})
    assert (
        group.renderables[-1] == HINT and "ctl status|halt|resume|flatten|reconcile|adopt" in HINT
    )


def test_request_when_the_answer_takes_longer_than_the_servers_client_timeout_then_it_still_arrives(
    ipc_dir, monkeypatch
):
    """The server's deadline is for reading a request; the operator waits for the answer as long as
    the command takes (a flatten: up to a minute). Seen: ctl answered 'timed out' after 5 s."""
    monkeypatch.setattr(control, "CLIENT_TIMEOUT_S", 0.5)
    server = serve(ipc_dir, lambda cmd, reason: time.sleep(1.5) or {"ok": True, "cmd": cmd})
    try:
        assert request(server.path, "flatten", timeout_s=10) == {"ok": True, "cmd": "flatten"}
    finally:
        server.stop()
