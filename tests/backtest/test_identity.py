"""THE test of the in-process backtest: on the same multi-strategy, multi-day replay it writes the
same journals as `python supervisor.py` (four processes, shared memory, ZeroMQ), line by line.

The replay is the chaos NSE case (tests/chaos/nse_case.py): real 1-minute bars of SBIN, RELIANCE and
INFY over three sessions, EMA 10/30 MARKET and SMA 5/20 LIMIT on every symbol, entries, stops,
targets, square-offs, a daily loss limit that halts two of the three days. Compared:
- signals.jsonl, orders.jsonl, fills.jsonl, paper_broker.jsonl: every line, every field, in order,
  except `ts_init_ns`, `ts_recv_ns` and `crc` (readings of each process's wall / monotonic clock and
  the seal over them), and the test checks that those are the only fields that differ;
- positions.json: the whole document (positions, realised and unrealised P&L, fills applied, the
  last orders seq, the start-up reconcile);
- the chaos tests' outcome: orders at the broker, fills, positions, realised P&L.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.backtest.cases import nse_config
from tests.chaos.harness import Pipeline
from tests.chaos.journals import CLOCK_FIELDS, JOURNALS, first_difference, journals
from tests.chaos.replay_case import outcome

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def differing_fields(a: str, b: str) -> set[str]:
    """Every field whose value differs between two runs' journal lines at the same position."""
    fields = set()
    for name in JOURNALS:
        with open(os.path.join(a, name)) as fa, open(os.path.join(b, name)) as fb:
            for x, y in zip(map(json.loads, fa), map(json.loads, fb)):
                fields |= {k for k in x.keys() | y.keys() if x.get(k) != y.get(k)}
    return fields


def _positions(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "positions.json")) as f:
        return json.load(f)


def test_backtest_when_run_on_the_pipelines_replay_then_journals_positions_and_pnl_are_the_pipelines(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    with open(nse_config(tmp_path)) as f:
        config = json.load(f)
    # A stage restarted as hung on a loaded machine would journal its recovery: not this test's
    # subject.
    config["supervisor"]["heartbeat_timeout_ms"] = 10_000
    config["run"]["report"] = False          # journals are compared here, not reports
    with Pipeline(tmp_path, config) as p:
        code = p.wait_exit(timeout=300)
    assert code == 0, p.output()[-4000:]
    assert p.leftovers() == {"segments": [], "sockets": []}
    disturbed = [e for e in p.events() if e["kind"] in ("signal", "restart")]
    assert not disturbed, f"the pipeline run was disturbed: {disturbed}"
    run_dir = str(tmp_path / "backtest")
    done = subprocess.run(
        [sys.executable, "-m", "backtest", "--config", str(p.config_path), "--run-dir", run_dir],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    pipeline, backtest = journals(p.run_dir), journals(run_dir)
    assert all(pipeline[name] for name in JOURNALS), {
        name: len(lines) for name, lines in pipeline.items()
    }
    assert first_difference(pipeline, backtest) is None, first_difference(pipeline, backtest)
    assert differing_fields(p.run_dir, run_dir) <= set(CLOCK_FIELDS)
    assert _positions(run_dir) == _positions(p.run_dir)
    assert outcome(run_dir) == outcome(p.run_dir)
    fills = [json.loads(line) for line in open(os.path.join(run_dir, "fills.jsonl"))]
    assert {"ENTRY", "STOP", "TARGET", "SQUAREOFF"} <= {f["role"] for f in fills}
    assert {f["strategy"] for f in fills if f["role"] == "ENTRY"} == {"ema", "sma"}
