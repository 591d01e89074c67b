"""Preloaded by the supervisor's forkserver: load the kernels of `common` from numba's cache once.

Every stage forked afterwards has them compiled in memory, so no stage JIT-compiles while it trades
(a first-call compile takes long enough to look like a hang). Must never raise.
"""

WARM_ERROR = ""

try:
    from common import latency

    latency.warm()
except Exception as e:  # noqa: BLE001 - a failure here must not take the forkserver down
    WARM_ERROR = f"{type(e).__name__}: {e}"
