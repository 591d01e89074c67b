"""One run of a local-venue example config (config/examples/<venue>-local.json) through the
supervisor.

The end-to-end venue tests (test_kite_local.py, test_upstox_local.py) all start the same way: load
the example, run the whole pipeline for a few seconds against the local venue the supervisor hosts,
require a clean exit and read the stages' counters from summary.json. What each venue's run must
show is left to its test.
"""

import json
import os

from tests.chaos.harness import Pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_local_example(tmp_path, venue: str, seconds: int = 10) -> tuple[Pipeline, dict, dict]:
    """Run `<venue>-local.json` for `seconds`; (the finished pipeline, feed counters, orders
    counters). Fails the test, with the supervisor's last output, unless it exited 0."""
    with open(os.path.join(ROOT, "config", "examples", f"{venue}-local.json")) as f:
        example = json.load(f)
    with Pipeline(tmp_path, example, args=["--duration", str(seconds)]) as p:
        p.wait_running()
        code = p.wait_exit(timeout=120)
    assert code == 0, p.output()[-3000:]
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        stages = json.load(f)["stages"]
    return p, stages["feed"]["counters"], stages["orders"]["counters"]
