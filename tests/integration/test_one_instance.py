"""One supervisor per run dir and per broker account (issue 11.4), with the real `python
supervisor.py`.

Before: a second supervisor on the same run dir overwrote run.json, appended to the first's
supervisor.jsonl, failed late and its teardown deleted the first run's ipc directory (the first run
then stalled with every stage `ready`); two on one paper account (two run dirs) both traded it.
"""

import os
import signal
import subprocess
import sys

import pytest

from tests.chaos.harness import ROOT, Pipeline, alive
from tests.support import eventually

pytestmark = pytest.mark.slow
EXIT_REFUSED = 2


def _second(first: Pipeline, tmp_path, run_dir: str) -> subprocess.CompletedProcess:
    """Start another supervisor with the first one's config and registry; it must return at once."""
    env = dict(os.environ, OTRADE_REGISTRY_DIR=first.registry, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, os.path.join(ROOT, "supervisor.py"), "--config", str(first.config_path),
           "--run-dir", run_dir, "--http-port", "0", "--no-dashboard", "--duration", "2"]
    return subprocess.run(
        cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120
    )


def _fingerprint(run_dir: str) -> dict:
    ipc = os.path.join(run_dir, "ipc")
    # a long run-dir path puts the sockets elsewhere
    where = os.path.join(run_dir, "ipc.where")
    if os.path.exists(where):
        with open(where) as f:
            ipc = f.read().strip()
    with open(os.path.join(run_dir, "run.json"), "rb") as f:
        manifest = f.read()
    return {"run.json": manifest, "ipc": sorted(os.listdir(ipc))}


def test_second_supervisor_when_the_run_dir_is_in_use_then_it_is_refused_and_the_first_run_is_unharmed(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    with Pipeline(tmp_path, args=["--duration", "12"]) as first:
        first.wait_running()
        before = _fingerprint(first.run_dir)
        second = _second(first, tmp_path, first.run_dir)
        assert second.returncode == EXIT_REFUSED, second.stderr[-2000:]
        assert f"run dir {first.run_dir} is in use by pid {first.proc.pid}" in second.stderr
        assert "since " in second.stderr
        assert _fingerprint(first.run_dir) == before            # run.json and the ipc dir untouched
        # The first run still flows end to end: orders keeps applying ticks after the refusal.
        ticks = first.stage("orders")["counters"]["ticks"]
        eventually(lambda: first.stage("orders")["counters"]["ticks"] > ticks, timeout=30,
                   message="orders applies ticks after the refused start")
        code = first.wait_exit(timeout=120)
    assert code == 0, first.output()[-3000:]
    assert first.leftovers() == {"segments": [], "sockets": []}


def test_second_supervisor_when_the_paper_account_is_in_use_then_another_run_dir_is_refused_until_it_ends(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    other = str(tmp_path / "other-run")
    with Pipeline(tmp_path) as first:
        first.wait_running()
        refused = _second(first, tmp_path, other)
        assert refused.returncode == EXIT_REFUSED, refused.stderr[-2000:]
        assert "broker account paper-default is in use by pid" in refused.stderr
        assert f"run dir {first.run_dir}" in refused.stderr
        # refused before creating anything
        assert not os.path.exists(os.path.join(other, "run.json"))
        children = first.descendants()
        # a holder that dies without unlocking
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=30)
    eventually(lambda: not alive(children), timeout=30, message=f"no stage left of {children}")
    after = _second(first, tmp_path, other)
    assert after.returncode == 0, after.stderr[-3000:]
