"""Preloaded by the supervisor's forkserver: compile (or load from numba's cache) every feed kernel once.

Importing a module compiles nothing: numba compiles on the first call with given argument types, so
every kernel the feed runs is *called* here the way the stage calls it (issue 12.9: the first publish
compiled `RingWriter._publish` inside a running, heartbeat-watched feed, 2-3 s on a busy machine).
- the tick ring's writer (`_publish`, `_free_slots`): common.warmup.warm_ring, preloaded before this;
- the sim source's `sim_block`;
- the tick screen (`feed.sanity.screen_kernel`), through TickSanity.screen on a TICK_DTYPE batch;
- the Kite decoder warms its own kernel when the source opens (KiteDecoder.warm), before READY.
Never raises (it would take the forkserver down): the error is kept in WARM_ERROR and the kernels
then compile on first use.
"""

WARM_ERROR = ""

try:
    import numpy as np

    import common.warmup  # noqa: F401 - the ring kernels (idempotent if already preloaded)
    import feed.stage  # noqa: F401
    from common.dtypes import TICK_DTYPE
    from config.schema import TickSanityConfig
    from feed.sanity import TickSanity
    from feed.sources.sim import BLOCK, sim_block

    _state = np.zeros((1, 6))
    _state[0, 0] = 100.0
    _z = np.zeros(BLOCK)
    sim_block(_state, np.array([0.05]), _z, _z, _z, _z, _z, 1.0, 100.0, np.zeros(BLOCK, np.int64), np.zeros(BLOCK),
              np.zeros(BLOCK, np.int64), np.zeros(BLOCK))
    _rows = np.zeros(4, TICK_DTYPE)
    _rows["price"] = 100.0
    for _event_clock in (True, False):
        TickSanity(TickSanityConfig(), [100.0], event_clock=_event_clock, batch=4).screen(_rows[:2])
    WARM_ERROR = common.warmup.WARM_ERROR
except Exception as e:  # noqa: BLE001
    WARM_ERROR = f"{type(e).__name__}: {e}"
