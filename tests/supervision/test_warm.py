"""Every kernel a stage calls from Python is compiled by the forkserver's warm modules, before any
stage exists (issue 12.9: the feed compiled RingWriter._publish on its first publish, inside a
running, heartbeat-watched process, and was killed as hung). Kernels called only from other kernels
are compiled into their callers and need no entry here.

Runs in a child process that imports exactly what the forkserver preloads (supervisor.PRELOAD), so
the answer does not depend on what this test session imported before.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (module, kernel) pairs that stages call from Python at run time, by the stage that calls them.
PYTHON_CALLED = {
    # feed writes; the three readers read
    "common.ringbuffer": ["_publish", "_consume", "_read_one"],
    "common.waits": ["begin_sleep", "spin_until"],                 # readers' wait strategies
    "common.latency": ["record", "record_since", "quantile"],
    "feed.sources.sim": ["sim_block"],
    "feed.sanity": ["screen_kernel"],
    "signals.kernels.commit": ["last_seq_of"],
    "common.pricegrid": ["round_away", "round_nearest", "off_tick"],   # orders' brackets and risk
    "orders.brokers.paper.matching": ["match_ticks"],
    "orders.exposure": ["apply_ticks", "gross_of", "pnl_of", "scan_events"],
    "orders.risk": ["check_entry"],
    "positions.stage": ["last_prices_update"],
}

CHILD = """
import importlib, json, sys
sys.path.insert(0, {root!r})
import supervisor
for name in supervisor.PRELOAD:
    importlib.import_module(name)
wanted = json.loads(sys.argv[1])
out = {{}}
for module, kernels in wanted.items():
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError:   # a piece this tree does not have (yet): nothing of it can run
        continue
    for k in kernels:
        out[module + "." + k] = len(getattr(mod, k).signatures)
errors = {{m: getattr(importlib.import_module(m), "WARM_ERROR", "") for m in
          ("common.warmup", "feed.warm", "signals.warm", "orders.warm", "positions.warm")}}
print(json.dumps({{"compiled": out, "errors": errors}}))
"""


@pytest.mark.slow
def test_warm_modules_when_preloaded_then_every_kernel_stages_call_from_python_is_compiled():
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=ROOT), json.dumps(PYTHON_CALLED)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {m: "" for m in result["errors"]}
    missing = sorted(k for k, n in result["compiled"].items() if n == 0)
    assert missing == [], f"not compiled before READY: {missing}"
