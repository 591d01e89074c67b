"""What a strategy is, and what you write to add one.

A strategy kind is a small class (registered in signals/strategies/__init__.py) that declares:

    kind           the config name, e.g. "ma_crossover" (config.strategies[i].kind)
    Params         the msgspec Struct its config params are validated into (config/schema.py)
    CODES          field -> {value: code} for each Literal (text) param, which the kernel reads as a
                   number; PARAMS_DTYPE, the params as one numpy record, is derived from Params
                   (`params_dtype`), so a param is declared once
    STATE_DTYPE    its state for ONE instrument; the engine keeps two copies per (strategy,
                   instrument) in shared memory and commits each tick atomically
                   (signals/kernels/commit.py)
    REASONS        reason code -> text, for SignalRaised.reason
    kernel         a numba kernel, called once per batch, no Python per tick:

        kernel(rows, inst_slot, tick_size, params, copies, commit, history, outbox, cursor,
               strategy, stats) -> consumed

        rows       TICK_DTYPE[n]           the batch, in seq order
        inst_slot  int64[instruments]      instrument index -> this strategy's slot (-1: not traded)
        tick_size  float64[instruments]    rupees, per instrument index
        params     PARAMS_DTYPE[1]
        copies     STATE_DTYPE[slots, 2]   commit  int64[slots]
        history    float64[slots, history_len]
        outbox     INTENT_DTYPE[capacity]  cursor  int64[24]      (signals/outbox.py)
        strategy   int                     this strategy's index in config.strategies
        stats      int64[N_STATS]          process-local counters, STAT_* below
        consumed   rows fully handled; < n only when the outbox filled up (call again after
                   draining)

It may override `history_len(params)` (float64 slots of price history per instrument, for windows).
An intent means "open a bracket in this direction": at most one per (strategy, instrument, tick), as
its id is f"{strategy}:{instrument}:{tick_seq}". The strategy does not track fills or positions.

Every kernel has the same skeleton around its own `_advance` (see strategies/ma_crossover.py),
copied into each strategy rather than made by one factory, because numba's cache cannot hold a
kernel that closes over another jitted function: the cache key includes the pickled closure, a
dispatcher pickles with a per-process uuid, so every new process misses the cache and compiles again
(measured with a factory closing over vwap_revert's step, fresh NUMBA_CACHE_DIR, three processes in
a row: a miss and 4.5-6 s of compiling in each; this `build(digest)`, closed over an int: a miss in
the first, hits and 0.3-0.6 s in the next two). A restarted stage must not spend seconds compiling,
so the copies stay and tests/signals/test_kernel_skeleton.py checks each against the reference:

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
        Params = BreakoutParams            # n, qty, stop_loss_pct, target_pct (ints, floats)
        STATE_DTYPE = np.dtype([("count", np.int64), ("high", np.float64)])
        REASONS = {1: "new high of the window"}
        kernel = staticmethod(build(KERNEL_DIGEST))

        @classmethod
        def history_len(cls, params):
            return params.n + 1            # a ring one longer than the window (kernels/sma.py)

with an `_advance` that compares the price with the ring's maximum. strategies/vwap_revert.py is a
complete second strategy written exactly this way.
"""

from collections.abc import Callable
from typing import Annotated, ClassVar, Literal, get_args, get_origin

import msgspec
import numpy as np

from common.dtypes import TICK_DTYPE
from signals.outbox import HEADER_WORDS, INTENT_DTYPE

STAT_APPLIED = 0      # ticks applied (committed)
STAT_REPLAYED = 1     # ticks skipped because seq <= last_seq: already applied before
STAT_OUTBOX_FULL = 2  # batches stopped early because the outbox was full
N_STATS = 4
STAT_NAMES = ("applied", "replayed", "outbox_full")


def _base_type(tp):
    """The type under any Annotated[...] constraints (PosInt is Annotated[int, Meta(gt=0)])."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def params_dtype(params_type: type) -> np.dtype:
    """The numpy record of a Params Struct: one field per Struct field, in declaration order.

    int -> int64, float -> float64, bool -> int64 (0/1), a Literal of text values -> int64 (its
    code, from the strategy's CODES). Any other type raises TypeError naming the field: the kernel
    could not read it.
    """
    fields: list[tuple[str, type]] = []
    for f in msgspec.structs.fields(params_type):
        tp = _base_type(f.type)
        if tp is float:
            fields.append((f.name, np.float64))
        elif tp in (int, bool) or get_origin(tp) is Literal:
            fields.append((f.name, np.int64))
        else:
            raise TypeError(f"{params_type.__name__}.{f.name}: {f.type!r} has no numpy field "
                            "(int, float, bool or a Literal of values with codes)")
    return np.dtype(fields)


def _check_codes(cls) -> None:
    """Every Literal param has a code for each of its values, so packing never meets an unknown
    one."""
    for f in msgspec.structs.fields(cls.Params):
        tp = _base_type(f.type)
        if get_origin(tp) is not Literal:
            continue
        missing = [v for v in get_args(tp) if v not in cls.CODES.get(f.name, {})]
        if missing:
            raise TypeError(f"{cls.__name__}.CODES[{f.name!r}] has no code for {missing}")


class Strategy:
    """Base of every strategy kind (see the module docstring)."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type] = msgspec.Struct
    CODES: ClassVar[dict[str, dict]] = {}
    PARAMS_DTYPE: ClassVar[np.dtype]          # derived from Params when the subclass is defined
    STATE_DTYPE: ClassVar[np.dtype]
    REASONS: ClassVar[dict[int, str]] = {}
    kernel: ClassVar[Callable[..., int]]    # staticmethod(a numba kernel), see the module docstring

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "Params" in cls.__dict__:
            cls.PARAMS_DTYPE = params_dtype(cls.Params)
            _check_codes(cls)

    @classmethod
    def resolve_params(cls, params):
        """The validated Params: config hands over an instance already; a plain dict is
        converted."""
        if isinstance(params, dict):
            return msgspec.convert(params, cls.Params)
        return params

    @classmethod
    def history_len(cls, params) -> int:
        """float64 slots of price history per instrument (>= 1; the default keeps none that
        matter)."""
        return 1

    @classmethod
    def pack_params(cls, params) -> np.ndarray:
        """The params as a PARAMS_DTYPE[1] array: each field by name from the Params struct."""
        packed = np.zeros(1, dtype=cls.PARAMS_DTYPE)
        for name in cls.PARAMS_DTYPE.names or ():
            packed[0][name] = cls.param_value(params, name)
        return packed

    @classmethod
    def param_value(cls, params, name: str):
        """One packed field: a Literal param as its code (CODES), a bool as 0/1, a number as it
        is."""
        value = getattr(params, name)
        if name in cls.CODES:
            return cls.CODES[name][value]
        return int(value) if isinstance(value, bool) else value

    @classmethod
    def warm(cls) -> int:
        """Run the kernel once on a tiny batch with default params: compiles it, or loads numba's
        cache."""
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
