"""Every kernel a stage calls from Python is compiled by the forkserver's warm modules, before any
stage exists (issue 12.9: the feed compiled RingWriter._publish on its first publish, inside a
running, heartbeat-watched process, and was killed as hung). Kernels called only from other kernels
are compiled into their callers and need no entry here.

Runs in a child process that imports exactly what the forkserver preloads (supervisor.preload_for:
PRELOAD and the modules of every broker and tick source), so the answer does not depend on what this
test session imported before. The kernels must be compiled for the argument types the stages use
(EXACT): a warm-up with the wrong array layout compiles a signature no stage calls, and the stage
then loads the real one in its start-up on every restart (seen: positions, 12 ms). The broker and
source modules preloaded must not install Twisted's reactor or start a thread in the forkserver:
every stage forked from it would share them.
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
    "common.intentring": ["_store_watermark", "_sleepers", "_begin_sleep"],   # signals / orders
    "feed.sources.sim_session": ["session_block"],
}
# kernel -> a signature it must have: the one the stage's call has.
EXACT = {
    # positions.stage.drain_ticks: field views of a batch of records, strided
    "positions.stage.last_prices_update": "(Array(float64, 1, 'A', False, aligned=True), "
    "Array(uint16, 1, 'A', False, aligned=True), Array(float64, 1, 'C', False, aligned=True))",
}

CHILD = """
import importlib, json, sys, threading
from types import SimpleNamespace as NS
sys.path.insert(0, {root!r})
import supervisor
preload = []
for broker in supervisor.BROKER_MODULES:
    for source in supervisor.SOURCE_MODULES:
        config = NS(broker=NS(name=broker), feed=NS(source=source, upstox=NS(order_updates=True)))
        preload += supervisor.preload_for(config)
for name in dict.fromkeys(preload):
    importlib.import_module(name)
wanted = json.loads(sys.argv[1])
out = {{}}
for module, kernels in wanted.items():
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError:   # a piece this tree does not have (yet): nothing of it can run
        continue
    for k in kernels:
        out[module + "." + k] = [str(sig) for sig in getattr(mod, k).signatures]
errors = {{m: getattr(importlib.import_module(m), "WARM_ERROR", "") for m in
          ("common.warmup", "feed.warm", "signals.warm", "orders.warm", "positions.warm")}}
print(json.dumps({{"compiled": out, "errors": errors, "threads": threading.active_count(),
                  "reactor": "twisted.internet.reactor" in sys.modules,
                  "preloaded": sorted(set(preload))}}))
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
    missing = sorted(k for k, sigs in result["compiled"].items() if not sigs)
    assert missing == [], f"not compiled before READY: {missing}"
    for kernel, signature in EXACT.items():
        assert signature in result["compiled"][kernel], (kernel, result["compiled"][kernel])
    assert result["reactor"] is False, "a preloaded module installed Twisted's reactor"
    assert result["threads"] == 1, "a preloaded module started a thread in the forkserver"
    for module in ("orders.brokers.paper.broker", "orders.brokers.upstox.broker",
                   "feed.sources.upstox.source", "twisted.internet.tcp"):
        assert module in result["preloaded"]
