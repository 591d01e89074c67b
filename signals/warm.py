"""Preloaded by the supervisor's forkserver: load every strategy kernel from numba's cache at
import.

A signals process forked from a server that imported this module starts with the kernels already in
memory, so it is READY in milliseconds after a crash. The import must never fail (it would take the
forkserver down with it): any error is kept in WARM_ERROR, and the stage's own `SignalEngine.warm()`
then compiles or loads what is missing, or reports the error properly. The tick ring's reader
kernels are warmed by common.warmup (preloaded before this module).
"""

WARMED: tuple[str, ...] = ()   # kinds whose kernel ran
WARM_ERROR: str = ""           # why warming stopped, if it did


def _warm_all() -> None:
    global WARMED, WARM_ERROR
    try:
        import numpy as np

        from signals.kernels.commit import last_seq_of
        from signals.strategies import STRATEGIES

        last_seq_of(np.zeros(1, np.int64)[0])    # called from Python by StrategyState.last_seq
        done = []
        for kind, cls in STRATEGIES.items():
            cls.warm()
            done.append(kind)
            WARMED = tuple(done)
    except Exception as e:  # noqa: BLE001 - must never raise, see the module docstring
        WARM_ERROR = f"{type(e).__name__}: {e}"


_warm_all()
