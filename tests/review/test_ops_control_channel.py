"""The operator's control channel (supervision/control.py, operator.py) under misuse.

README "Operator controls": the supervisor forwards each command to orders and waits for its effect;
control.py: "a slow or silent client is dropped after CLIENT_TIMEOUT_S, so it cannot block the next
operator".
"""

import os
import socket
import time


from common.bus import Puller, make_context
from supervision import control
from supervision.control import ControlServer, request
from supervision.operator import OperatorDesk



def test_control_when_a_client_drips_its_request_past_the_client_timeout_then_it_is_dropped(
    ipc_dir, monkeypatch
):
    monkeypatch.setattr(control, "CLIENT_TIMEOUT_S", 1.0)
    server = ControlServer(
        os.path.join(ipc_dir, "supervisor.ctl"), lambda cmd, reason: {"ok": True}
    ).start()
    dropped = False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as slow:
            slow.connect(server.path)
            # 30 x 0.1 s = 3 s of dripping: three times the client timeout, each gap a tenth of it.
            for _ in range(30):
                try:
                    slow.sendall(b" ")
                    time.sleep(0.1)
                    # the server closed the connection
                    if slow.recv(1, socket.MSG_DONTWAIT) == b"":
                        dropped = True
                        break
                except BlockingIOError:
                    # still open: still holding the channel
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    dropped = True
                    break
    finally:
        server.stop()
    assert dropped, (
        "a client that never finished its line in 3x CLIENT_TIMEOUT_S was still being served"
    )


def test_control_when_a_request_line_is_over_the_limit_then_refused_and_the_channel_keeps_serving(
    ipc_dir,
):
    """Holds: a huge request is answered with a named error and the next operator is served."""
    server = ControlServer(
        os.path.join(ipc_dir, "supervisor.ctl"), lambda cmd, reason: {"ok": True}
    ).start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(server.path)
            s.settimeout(10)
            try:
                s.sendall(b"x" * (control.MAX_LINE + 8192))
            except (BrokenPipeError, ConnectionResetError):
                pass                                   # the server answered and closed first
            try:
                answer = s.recv(4096)
            except ConnectionResetError:
                answer = b""
            assert answer == b"" or b"longer than" in answer
        assert request(server.path, "status", timeout_s=10) == {"ok": True}
    finally:
        server.stop()


def test_ctl_flatten_after_halt_when_orders_has_not_acted_yet_then_it_is_not_answered_done(
    tmp_path, ipc_dir
):
    zmq = make_context()
    endpoint = "ipc://" + os.path.join(ipc_dir, "orders.cmd")
    # orders: connected, but busy (reads nothing during the test)
    puller = Puller(zmq, endpoint)
    # The operator halted a minute ago; a LIMIT entry still rests at the broker (no position yet, so
    # positions.json is flat). `ctl flatten` must cancel it before it may say it is done.
    status = {"trading_state": "HALTED", "positions": {"positions": [{"symbol": "INFY", "qty": 0}]}}
    desk = OperatorDesk(str(tmp_path), endpoint, lambda: dict(status), wait_s={"flatten": 1.0})
    try:
        answer = desk.handle("flatten", "end of day")
        unread = []
        while (msg := puller.recv_nowait()) is not None:
            unread.append(type(msg).__name__)
    finally:
        desk.close()
        puller.close()
        zmq.term()
    assert unread == ["SetTradingState", "FlattenAll"]     # orders never saw the command ...
    assert answer["ok"] is False, answer                   # ... so it cannot have taken effect
