"""The real `python supervisor.py`: a second instance on a running run dir is refused and disturbs
nothing; SIGHUP (a closed terminal) then stops the first cleanly. One supervisor run."""

import os
import signal
import subprocess
import sys

from tests.chaos.harness import ROOT, STAGES, Pipeline, alive
from tests.support import eventually


def test_second_supervisor_when_the_run_dir_is_live_then_it_is_refused_and_sighup_stops_the_first_cleanly(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    with Pipeline(tmp_path, {"feed": {"sim": {"tick_rate_hz": 200}}}) as p:
        p.wait_running()
        pids = [p.stage(s)["pid"] for s in STAGES]
        second = subprocess.run(
            [
                sys.executable,
                f"{ROOT}/supervisor.py",
                "--config",
                str(p.config_path),
                "--run-dir",
                p.run_dir,
                "--http-port",
                "0",
                "--no-dashboard",
            ],
            cwd=str(tmp_path),
            capture_output=True,
            timeout=60,
            env={**os.environ, "OTRADE_REGISTRY_DIR": p.registry},
        )
        out = (second.stdout + second.stderr).decode(errors="replace")
        assert second.returncode != 0, out
        assert str(p.proc.pid) in out, out                      # the refusal names the holder
        h = p.health()
        assert h and all(h["stages"][s]["state"] == "ready" for s in STAGES)
        assert [p.stage(s)["pid"] for s in STAGES] == pids       # nothing restarted or touched
        descendants = p.descendants()
        p.proc.send_signal(signal.SIGHUP)
        code = p.wait_exit(timeout=60)
    assert code == 0, p.output()[-3000:]
    # The forkserver's resource tracker goes a moment after the supervisor.
    eventually(
        lambda: not alive(descendants), timeout=10, message=f"no process left of {descendants}"
    )
    assert p.leftovers() == {"segments": [], "sockets": []}
