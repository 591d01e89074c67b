"""Compile (or load from numba's cache) every orders kernel once, at import, so a restarted orders
process is ready at once and its first tick pays no JIT; and take the digest of the code a
snapshot is stamped with (orders/snapshot.code_digest: ~40 source files read and hashed, 3-6 ms
of every busy-day restart otherwise), which is the digest of the code every stage forked from
here runs.

The supervisor's forkserver imports this module to preload the kernels; it must never raise, so
every failure is caught, logged and recorded in `WARM_ERROR` (the kernels then compile on first use,
slowly but correctly). `WARMED` is True when everything compiled. Imports numpy, the kernels'
modules and `common`. The tick ring's reader kernels are warmed by common.warmup (preloaded first).
"""

import numpy as np

from common.dtypes import TICK_DTYPE
from common.log import get_logger
from orders import snapshot

WARMED = False
WARM_ERROR = ""


def warm() -> bool:
    """Run each kernel once on tiny preallocated inputs. Returns True on success; never raises."""
    global WARMED, WARM_ERROR
    try:
        _run_kernels()
        snapshot.code_digest()
    except Exception as e:  # noqa: BLE001 - a warm-up failure must never stop a process
        WARM_ERROR = f"{type(e).__name__}: {e}"
        get_logger("orders").warning("orders kernels failed to warm up", error=WARM_ERROR)
        return False
    WARMED, WARM_ERROR = True, ""
    return True


def _run_kernels() -> None:
    from orders.brokers.paper.matching import WorkingOrders
    from orders.exposure import apply_ticks, gross_of, pnl_of, scan_events
    from config.schema import RiskConfig
    from orders.limits import RiskLimits
    from common.pricegrid import round_away
    from orders.risk import CHECK_DTYPE, check_entry, off_tick, round_to_tick

    ticks = np.zeros(2, TICK_DTYPE)
    ticks["seq"] = (1, 2)
    ticks["price"] = 100.0
    f8, i8 = np.zeros(1, np.float64), np.zeros(1, np.int64)
    clock = np.zeros(2, np.int64)
    apply_ticks(ticks, 0, 2, f8.copy(), i8.copy(), i8.copy(), clock)
    open_instr = np.zeros(0, np.int64)
    pnl_of(0.0, open_instr, i8, f8, f8)
    gross_of(open_instr, i8, f8, f8)
    scan_events(ticks, 0, 2, 0, 10, 1 << 62, True, -1.0, 0.0, open_instr,
                np.full(1, -1, np.int64), i8, f8, f8, f8.copy(), f8.copy(), f8.copy())
    req = np.zeros(1, CHECK_DTYPE)
    params = RiskLimits.from_config(RiskConfig()).params
    check_entry(params, req, np.ones(1), np.ones(1, np.int64), i8, f8, f8, f8, i8)
    off_tick(100.05, 0.05)
    round_to_tick(100.03, 0.05)
    for below in (True, False):      # brackets.py calls it from Python: (float, float, bool)
        round_away(100.03, 0.05, below)
    working = WorkingOrders(1)
    working.match(ticks, 0, 2, np.ones(1), 0, 0, np.zeros(2, np.int64))


warm()
