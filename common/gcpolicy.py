"""How a stage process runs Python's garbage collector once it is started (config `run.gc`).

The reference count frees almost everything the instant it dies; the cyclic collector exists for
cycles, and it runs whenever net allocations of container objects pass a threshold (700 by
default), walking the young generation, and every 100th time the whole heap. In a stage that heap
is numpy, numba, zmq, msgspec, the config and the engine's state (~120,000 objects): a full pass
costs ~100 ms on the 2-vCPU VM, and it lands on whatever tick is being handled at that moment.

- "frozen" (default): after `start()` (sockets, recovery, warm-up) and before READY, collect once
  and `gc.freeze()` the survivors into the permanent generation, so no collection walks them again;
  and make full collections 100x rarer (FROZEN_THRESHOLDS), so the state a trading day accumulates
  (every Order, bracket and trade the orders book keeps) is not walked every few thousand orders
  either. Young collections keep CPython's pace: they are small and cheap, and that is where cycles
  made on the hot path die. What it costs: a cycle that was alive at the freeze and dies later is
  never reclaimed (frozen objects are outside every collection), one that outlived two young
  collections waits for the next (rare) full one — reference counting still frees everything
  acyclic at once, and the full collection after the benchmark's 6,000 bracket round trips found
  no cyclic garbage at all; and the one collection before READY (under 1 ms measured, since the
  forkserver froze the imported heap already).
- "default": plain CPython, the baseline the benchmark compares against. It also undoes the
  forkserver's freeze (common/gcfreeze.py, which exists for restart speed): after READY every
  object is collectable again and the thresholds are CPython's own.

benchmarks/gc_pause.py measures both (`python -m benchmarks gc`) on the orders engine's ticks and
the signals step. "frozen" is the default because of what the collector itself did there: in
"default" the orders run had automatic full collections of 128-153 ms (two in 36,000 orders ticks),
in "frozen" none, with the same young collections; the p99.9 of a tick was the same within the
2-vCPU machine's noise (3.5 ms default, 3.1 ms frozen).
"""

from __future__ import annotations

import gc

MODES = ("frozen", "default")
PYTHON_THRESHOLDS = (700, 10, 10)          # CPython's defaults, which "default" restores
# Young generations as CPython; a full collection after 1,000 generation-1 collections instead of 10
# (~7 million net container allocations; the orders book keeps ~17 per order: months at Kite's 5,000
# a day). A larger generation-0 threshold was measured and rejected: each young collection then
# walks more (50,000 → ~20-27 ms pauses, p99.9 of the intent → broker handoff 20 ms; 5,000 → ~6 ms
# pauses, p99.9 4.4 ms; 700 → ~0.2 ms pauses, p99.9 0.5-0.9 ms; 4,000-6,000 bracket round trips,
# 2-vCPU VM).
FROZEN_THRESHOLDS = (700, 10, 1000)


def apply(mode: str) -> None:
    """Set this process's collector to `mode` (one of MODES); ValueError for anything else."""
    if mode == "frozen":
        gc.collect()
        gc.freeze()
        gc.set_threshold(*FROZEN_THRESHOLDS)
        gc.enable()
    elif mode == "default":
        gc.unfreeze()
        gc.set_threshold(*PYTHON_THRESHOLDS)
        gc.enable()
    else:
        raise ValueError(f"gc mode must be one of {MODES}, got {mode!r}")


def describe() -> dict:
    """What the collector is doing now: thresholds, counts, frozen objects, collections so far."""
    return {"enabled": gc.isenabled(), "thresholds": list(gc.get_threshold()),
            "counts": list(gc.get_count()), "frozen": gc.get_freeze_count(),
            "collections": [s["collections"] for s in gc.get_stats()]}
