"""Preloaded by the supervisor's forkserver: load the positions kernels once; never raise.

`last_prices_update` is called as the stage calls it, on field views of a TICK_DTYPE batch (strided
arrays: a different compiled signature from contiguous ones). The tick ring's reader kernels are
warmed by common.warmup (preloaded before this module).
"""

WARM_ERROR = ""

try:
    import numpy as np

    from common.dtypes import TICK_DTYPE
    from positions.stage import last_prices_update

    # Two records, not one: a one-element view of a record field counts as contiguous ('C'), the
    # stage's batches are strided ('A') - warming with one left the real signature to load at start.
    _buf = np.zeros(2, TICK_DTYPE)
    last_prices_update(_buf["price"][:2], _buf["instrument"][:2], np.zeros(1))
except Exception as e:  # noqa: BLE001
    WARM_ERROR = f"{type(e).__name__}: {e}"
