"""A closed terminal or a dropped ssh session (issue 11.3): the kernel sends SIGHUP to the whole
foreground process group — supervisor, forkserver, resource tracker and every stage. Before, nothing
handled it: the supervisor died at once (no drain, no summary, ipc dir and registry entry left).
Now the supervisor alone acts on it, with the same clean stop as SIGTERM; its helpers ignore it."""

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.chaos.harness import ROOT, Pipeline

pytestmark = pytest.mark.slow


class SessionPipeline(Pipeline):
    """The harness's Pipeline in a session of its own, so its process group can be hung up alone."""

    def __enter__(self) -> "SessionPipeline":
        env = dict(os.environ, OTRADE_REGISTRY_DIR=self.registry, PYTHONUNBUFFERED="1")
        cmd = [
            sys.executable,
            os.path.join(ROOT, "supervisor.py"),
            "--config",
            str(self.config_path),
            "--run-dir",
            self.run_dir,
            "--http-port",
            str(self.port),
            "--no-dashboard",
            *self.args,
        ]
        self.log = open(self.tmp / f"supervisor-{self.run_id}.out", "wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=str(self.tmp),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self


def test_sighup_when_the_whole_process_group_is_hung_up_then_the_run_stops_cleanly_with_a_summary(
    tmp_path,
):
    with SessionPipeline(tmp_path) as p:
        p.wait_running()
        os.killpg(p.proc.pid, signal.SIGHUP)
        code = p.wait_exit(timeout=120)
    assert code == 0, p.output()[-3000:]
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        summary = json.load(f)
    assert summary["reason"] == "signal SIGHUP" and summary["drain"]["complete"]
    exits = [e for e in p.events() if e["kind"] == "exit"]
    assert sorted(e["stage"] for e in exits) == sorted(["feed", "signals", "orders", "positions"])
    assert all(e["exit_code"] == 0 and e["signal"] is None for e in exits), exits
    assert "Traceback" not in p.output()
    assert p.leftovers() == {"segments": [], "sockets": []}
    assert os.listdir(p.registry) in ([], ["accounts"])         # the run's registry entry is gone
