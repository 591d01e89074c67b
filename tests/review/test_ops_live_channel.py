"""One real `python supervisor.py` (paper, sim feed): the operator channel's files on disk, a
garbage client while it runs, SIGTERM twice in quick succession, and `ctl` against the run once it
has ended.

Claims (README "Operator controls", "Security and failure model", "Stopping, and one instance"): the
socket is in the run's private 0700 ipc directory; a malformed request gets a named error and the
channel keeps serving; Ctrl-C/SIGTERM stop cleanly (a second one does not abandon the drain); a run
that ended is "no run reached" (exit 2) for `ctl`.
"""

import json
import os
import signal
import socket
import stat
import subprocess
import sys

import pytest

from tests.chaos.harness import ROOT, Pipeline

pytestmark = pytest.mark.slow


def _ctl(p, command):
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "supervisor.py"),
            "ctl",
            command,
            "--run-dir",
            p.run_dir,
        ],
        env=dict(os.environ, OTRADE_REGISTRY_DIR=p.registry),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.returncode, out.stdout, out.stderr


def test_operator_channel_on_a_real_run_is_private_survives_garbage_and_ends_with_the_run(tmp_path):
    with Pipeline(tmp_path, {"strategies": [{"name": "mac", "kind": "ma_crossover",
                                             "params": {"fast": 5, "slow": 20}}]}) as p:
        p.wait_running()
        with open(os.path.join(p.run_dir, "run.json")) as f:
            path = json.load(f)["endpoints"]["supervisor.ctl"].removeprefix("ipc://")
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and mode & 0o777 == 0o600
        assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
        # garbage, then a valid command
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(b"\x00\xffnot json at all\n")
            assert b"not JSON" in s.recv(4096)
        code, out, err = _ctl(p, "status")
        assert code == 0 and json.loads(out)["run_id"] == p.run_id, err
        p.proc.send_signal(signal.SIGTERM)
        p.proc.send_signal(signal.SIGTERM)                                 # impatient operator
        code = p.wait_exit(timeout=60)
    assert code == 0, p.output()[-3000:]
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        summary = json.load(f)
    assert "SIGTERM" in json.dumps(summary)
    assert p.leftovers() == {"segments": [], "sockets": []}
    assert not os.path.exists(path)
    code, out, err = _ctl(p, "status")                                     # the run has ended
    assert code == 2 and "no supervisor is listening" in err, (code, out, err)
