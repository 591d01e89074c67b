"""Preloaded by the supervisor's forkserver: compile (or load from numba's cache) every feed kernel
once.

Importing a module compiles nothing: numba compiles on the first call with given argument types, so
every kernel the feed runs is *called* here the way the stage calls it (issue 12.9: the first
publish compiled `RingWriter._publish` inside a running, heartbeat-watched feed, 2-3 s on a busy
machine).
- the tick ring's writer (`_publish`, `_free_slots`): common.warmup.warm_ring, preloaded before
  this;
- the sim source's `sim_block` and `session_block` (stress and realistic profiles);
- the tick screen (`feed.sanity.screen_kernel`), through feed.sanity.warm (the stage calls it again
  in start(), before READY: a no-op once compiled);
- the Kite decoder warms its own kernel when the source opens (KiteDecoder.warm), before READY.
Never raises (it would take the forkserver down): the error is kept in WARM_ERROR and the kernels
then compile on first use.
"""

import numpy as np

WARM_ERROR = ""


def _warm_sim() -> None:
    import common.warmup  # noqa: F401 - the ring kernels (idempotent if already preloaded)
    import feed.stage  # noqa: F401
    from feed.sources.sim import BLOCK, sim_block

    state = np.zeros((1, 6))
    state[0, 0] = 100.0
    z = np.zeros(BLOCK)
    sim_block(
        state,
        np.array([0.05]),
        z,
        z,
        z,
        z,
        z,
        1.0,
        100.0,
        np.zeros(BLOCK, np.int64),
        np.zeros(BLOCK),
        np.zeros(BLOCK, np.int64),
        np.zeros(BLOCK),
    )
    # the realistic profile's kernel (the default), and its constant activity integral
    from feed.sources.sim_session import session_activity, session_block

    session_activity()

    session_block(
        state,
        np.array([0.05]),
        np.zeros(1),
        0.0,
        3.0,
        1e-4,
        1800.0,
        z,
        z + 1.0,
        z,
        z,
        z,
        z,
        np.zeros(BLOCK, np.int64),
        np.zeros(BLOCK),
        np.zeros(BLOCK, np.int64),
        np.zeros(BLOCK),
        np.zeros(BLOCK, np.int64),
    )


def _warm_sanity() -> None:
    try:
        from config.schema import TickSanityConfig
        from feed.sanity import warm
    # a tree without the tick screen's warm-up: the stage warms it in start()
    except ImportError:
        return
    warm(TickSanityConfig())


for _warm in (_warm_sim, _warm_sanity):
    try:
        _warm()
    except Exception as e:  # noqa: BLE001
        WARM_ERROR = WARM_ERROR or f"{_warm.__name__}: {type(e).__name__}: {e}"
