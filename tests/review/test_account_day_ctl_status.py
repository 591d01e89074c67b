"""Review of the account home (issue 11.1): `python supervisor.py ctl status` of a run that resumed
the day.

Seen: the second run of the day (HALTED by the first run's stop) answered status with the orders
stage's counters of this run (orders 0, fills 0) beside a positions block that is the account day's
book (11 fills, realised -8.07 INR, open positions the first run left), and nothing in the answer
says which account or day it is, or that the positions are the day's and the counters the run's.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.chaos.harness import ROOT, Pipeline, paper_on_a_live_feed

pytestmark = pytest.mark.slow


def test_ctl_status_when_the_run_resumed_the_account_day_then_it_names_the_day_it_shows(tmp_path):
    with paper_on_a_live_feed(tmp_path / "venue") as (_, live):
        _resume_and_ask(tmp_path, live)


def _resume_and_ask(tmp_path, live: dict) -> None:
    with Pipeline(tmp_path, live, args=["--duration", "4"]) as first:
        assert first.wait_exit(timeout=120) in (0, 3), first.output()[-3000:]
    with Pipeline(tmp_path, live) as second:
        second.wait_running()
        answer = subprocess.run(
            [sys.executable, f"{ROOT}/supervisor.py", "ctl", "status", "--run-dir", second.run_dir],
            capture_output=True,
            text=True,
            cwd=str(tmp_path),
            timeout=60,
        )
        assert answer.returncode == 0, answer.stderr
        status = json.loads(answer.stdout)
        with open(os.path.join(second.run_dir, "account.json")) as f:
            day = json.load(f)
    # day vs run
    assert status["positions"]["fills_applied"] > status["stages"]["orders"]["counters"]["fills"]
    assert day["dir"] in json.dumps(status), sorted(status)
