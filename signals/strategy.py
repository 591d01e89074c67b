"""What a strategy is, and what you write to add one.

A strategy kind is a small class (registered in signals/strategies/__init__.py) that declares:

    kind           the config name, e.g. "ma_crossover" (config.strategies[i].kind)
    Params         the msgspec Struct its config params are validated into
    PARAMS_DTYPE   the same params as one numpy record, which is how the kernel reads them
    STATE_DTYPE    its state for ONE instrument; the engine keeps two copies per (strategy, instrument)
                   in shared memory and commits each tick atomically (signals/kernels/commit.py)
    REASONS        reason code -> text, for SignalRaised.reason
    kernel         a numba kernel, called once per batch, no Python per tick:

        kernel(rows, inst_slot, tick_size, params, copies, commit, history, outbox, cursor,
               strategy, stats) -> consumed

        rows       TICK_DTYPE[n]           the batch, in seq order
        inst_slot  int64[instruments]      instrument index -> this strategy's slot, -1 if not traded
        tick_size  float64[instruments]    rupees, per instrument index
        params     PARAMS_DTYPE[1]
        copies     STATE_DTYPE[slots, 2]   commit  int64[slots]   history  float64[slots, history_len]
        outbox     INTENT_DTYPE[capacity]  cursor  int64[24]      (signals/outbox.py)
        strategy   int                     this strategy's index in config.strategies
        stats      int64[N_STATS]          process-local counters, STAT_* below
        consumed   rows fully handled; < n only when the outbox filled up (call again after draining)

It may override `history_len(params)` (float64 slots of price history per instrument, for windows).
An intent means "open a bracket in this direction": at most one per (strategy, instrument, tick), as its
id is f"{strategy}:{instrument}:{tick_seq}". The strategy does not track fills or positions.

Every kernel has the same skeleton around its own `_advance` (see strategies/ma_crossover.py):

    def build(digest):                      # digest: see kernels/digest.py (numba cache staleness)
        @njit(cache=True)
        def on_ticks(rows, inst_slot, tick_size, params, copies, commit, history, outbox, cursor,
                     strategy, stats):
            if digest < 0:
                return 0
            p = params[0]
            for i in range(rows.shape[0]):
                row = rows[i]
                slot = slot_of(inst_slot, row)
                if slot < 0:
                    continue
                copy = begin_tick(copies, commit, slot, row["seq"])
                if copy < 0:
                    stats[STAT_REPLAYED] += 1
                    continue
                side, reason = _advance(copies[slot, copy], history[slot], row, p)
                if side != 0 and not _emit(...):
                    stats[STAT_OUTBOX_FULL] += 1
                    return i
                commit_tick(commit, slot, row["seq"], copy)
                stats[STAT_APPLIED] += 1
            return rows.shape[0]
        return on_ticks

Example: a breakout strategy (buy a new high of the last `n` prices) would declare

    class Breakout(Strategy):
        kind = "breakout"
        Params = BreakoutParams                    # n, qty, stop_loss_pct, target_pct
        PARAMS_DTYPE = np.dtype([("n", np.int64), ("qty", np.int64), ...])
        STATE_DTYPE = np.dtype([("count", np.int64), ("high", np.float64)])
        REASONS = {1: "new high of the window"}
        kernel = staticmethod(build(KERNEL_DIGEST))

        @classmethod
        def history_len(cls, params):
            return params.n + 1                    # a ring one longer than the window (kernels/sma.py)

with an `_advance` that compares the price with the ring's maximum. strategies/vwap_revert.py is a
complete second strategy written exactly this way.
"""

from typing import ClassVar

import msgspec
import numpy as np

from common.dtypes import TICK_DTYPE
from signals.outbox import HEADER_WORDS, INTENT_DTYPE

STAT_APPLIED = 0      # ticks applied (committed)
STAT_REPLAYED = 1     # ticks skipped because seq <= last_seq: already applied before
STAT_OUTBOX_FULL = 2  # batches stopped early because the outbox was full
N_STATS = 4
STAT_NAMES = ("applied", "replayed", "outbox_full")


class Strategy:
    """Base of every strategy kind (see the module docstring)."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type] = msgspec.Struct
    PARAMS_DTYPE: ClassVar[np.dtype]
    STATE_DTYPE: ClassVar[np.dtype]
    REASONS: ClassVar[dict[int, str]] = {}
    kernel: ClassVar = None

    @classmethod
    def resolve_params(cls, params):
        """The validated Params: config hands over an instance already; a plain dict is converted."""
        if isinstance(params, dict):
            return msgspec.convert(params, cls.Params)
        return params

    @classmethod
    def history_len(cls, params) -> int:
        """float64 slots of price history per instrument (>= 1; the default keeps none that matter)."""
        return 1

    @classmethod
    def pack_params(cls, params) -> np.ndarray:
        """The params as a PARAMS_DTYPE[1] array: each field by name from the Params struct."""
        packed = np.zeros(1, dtype=cls.PARAMS_DTYPE)
        for name in cls.PARAMS_DTYPE.names:
            packed[0][name] = cls.param_value(params, name)
        return packed

    @classmethod
    def param_value(cls, params, name: str):
        """One packed field; override for fields that are not plain numbers (enums as codes)."""
        return getattr(params, name)

    @classmethod
    def warm(cls) -> int:
        """Run the kernel once on a tiny batch with default params: compiles it, or loads numba's cache."""
        params = cls.resolve_params({})
        rows = np.zeros(4, dtype=TICK_DTYPE)
        rows["seq"] = np.arange(1, 5)
        rows["price"] = 100.0
        rows["qty"] = 1
        history = np.zeros((1, cls.history_len(params)), dtype=np.float64)
        return cls.kernel(rows, np.zeros(1, np.int64), np.full(1, 0.05), cls.pack_params(params),
                          np.zeros((1, 2), cls.STATE_DTYPE), np.zeros(1, np.int64), history,
                          np.zeros(8, INTENT_DTYPE), np.zeros(HEADER_WORDS, np.int64), 0,
                          np.zeros(N_STATS, np.int64))
