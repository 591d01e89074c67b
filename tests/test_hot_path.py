"""The hot path does no per-tick work in Python: no allocation, no logging, no JSON.

The signals engine (every strategy kind over a batch of ticks), the orders engine (ticks applied
while a bracket is open: exposure, the kill-switch scan, the paper broker's matching of its working
exits) and the hop between them (signals' batch loop publishing the intent ring's watermark, orders
reading the ring, committing its cursor and its sleep handshake) are driven twice, over N and over
10·N ticks in the same number of calls, under a probe that counts Python function calls, logging
calls and JSON encodes (sys.setprofile), the bytes Python keeps allocated (tracemalloc) and numba's
own allocations (NRT statistics). Anything done per tick grows
with the tick count; per-call work does not. The tick streams raise no intent on purpose: an intent
is allowed to cost allocations (a message, a journal line) — a tick is not.
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc

import numpy as np
from numba.core.runtime import _nrt_python, rtsys

from common import intentring
from common.dtypes import TICK_DTYPE
from common.journal import JournalWriter
from common.ringbuffer import RingReader, RingWriter, ShmRing
from common.waits import YieldingWait
from config.schema import StrategyConfig
from signals.stage import SignalsStage
from tests.orders.stubs import Desk, Tape, intent
from tests.signals.synthetic import interleaved_ticks, make_config, make_engine
from tests.support import unique_segment

N = 2_000
# x10 in 4 calls stays under what one process() takes (outbox room // 3)
N_SIGNALS = 500
CALLS = 4                     # engine calls per run, whatever the number of ticks
KEPT_BYTES_SLACK = 2_048      # tracemalloc's own bookkeeping moves by a few hundred bytes
ENCODERS = ("orjson", "msgspec.json")


class HotPathProbe:
    """Counts what the code run inside `with` did (see the module docstring)."""

    def __init__(self):
        self.calls = self.log_calls = self.json_calls = 0

    def _profile(self, frame, event, arg):
        if event == "call":
            self.calls += 1
            if os.sep + "logging" + os.sep in frame.f_code.co_filename:
                self.log_calls += 1
        elif event == "c_call":
            owner = getattr(arg, "__self__", None)
            module = getattr(arg, "__module__", None) or type(owner).__module__
            if module and module.startswith(ENCODERS):
                self.json_calls += 1

    def __enter__(self) -> "HotPathProbe":
        # Earlier tests' garbage is finalized now, not inside the probe: a collection there runs
        # their __del__s and weakref callbacks, Python calls the code under test never made (CI
        # once counted ~2,700 of them in the 10x run, after the benchmark tests).
        gc.collect()
        _nrt_python.memsys_enable_stats()
        self._nrt_before = rtsys.get_allocation_stats().alloc
        tracemalloc.start()
        self._kept_before = tracemalloc.get_traced_memory()[0]
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(None)
        self.kept_bytes = tracemalloc.get_traced_memory()[0] - self._kept_before
        tracemalloc.stop()
        self.nrt_allocs = rtsys.get_allocation_stats().alloc - self._nrt_before


def assert_nothing_per_tick(small: HotPathProbe, large: HotPathProbe, call_slack: int = 0,
                            nrt_slack: int = 0) -> None:
    """`large` ran 10x the ticks of `small`: at most the slack (per-call work, for more calls)
    more."""
    assert large.calls - small.calls <= call_slack, (small.calls, large.calls)
    assert large.kept_bytes - small.kept_bytes <= KEPT_BYTES_SLACK, (
        small.kept_bytes,
        large.kept_bytes,
    )
    # numba wraps each array argument of a call in a MemInfo (one NRT allocation): per call, not per
    # tick.
    assert large.nrt_allocs - small.nrt_allocs <= nrt_slack, (small.nrt_allocs, large.nrt_allocs)
    assert (small.log_calls, large.log_calls) == (0, 0)
    assert (small.json_calls, large.json_calls) == (0, 0)


# -- signals ---------------------------------------------------------------------------------------
def _quiet_strategies():
    """One of each kernel (EMA, SMA with its price ring, VWAP) with windows no stream here fills."""
    return make_config(
        StrategyConfig(
            name="ema", kind="ma_crossover", params={"fast": 50_000, "slow": 100_000, "ma": "ema"}
        ),
        StrategyConfig(
            name="sma", kind="ma_crossover", params={"fast": 5_000, "slow": 30_000, "ma": "sma"}
        ),
        StrategyConfig(name="vwr", kind="vwap_revert", params={"min_session_ticks": 1_000_000}),
    )


def _signals_run(n_ticks: int) -> HotPathProbe:
    config = _quiet_strategies()
    engine, _ = make_engine(config)
    engine.warm()
    rows = interleaved_ticks(n_ticks, 4, seed=5)
    engine.process(rows[:1])  # first call outside the probe: lazy imports, caches
    batches = [
        rows[1 + k * (n_ticks - 1) // CALLS : 1 + (k + 1) * (n_ticks - 1) // CALLS]
        for k in range(CALLS)
    ]
    with HotPathProbe() as probe:
        for batch in batches:
            consumed, intents = engine.process(batch)
            assert (consumed, intents) == (len(batch), 0)
    assert sum(s["applied"] for s in engine.stats().values()) == 3 * n_ticks
    engine.release()
    return probe


def test_signals_engine_does_no_python_work_allocation_logging_or_json_per_tick():
    assert_nothing_per_tick(_signals_run(N_SIGNALS), _signals_run(10 * N_SIGNALS))


# -- orders ----------------------------------------------------------------------------------------
def _orders_run(directory, n_ticks: int) -> HotPathProbe:
    directory.mkdir()
    desk, tape = Desk(directory), Tape(step_ms=50)
    try:
        return _drive_open_bracket(desk, tape, n_ticks)
    finally:
        desk.close()


def _drive_open_bracket(desk: Desk, tape: Tape, n_ticks: int) -> HotPathProbe:
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, instrument=0, stop_loss=90.0, target=110.0)])
    desk.run(tape, start_seq=tape.add(0, 100.0))   # the entry fills; stop and target go out
    start = tape.seq + 1
    assert desk.engine.book.n_working == 2
    for k in range(n_ticks):                   # between the exits: nothing triggers
        tape.add(k % 2, 100.0 + (k % 7) * 0.05)
    ticks = tape.array(start)
    cuts = [k * len(ticks) // CALLS for k in range(CALLS + 1)]
    with HotPathProbe() as probe:
        for lo, hi in zip(cuts, cuts[1:]):
            desk.engine.advance(ticks[lo:hi])
    assert desk.engine.exposure.tick_seq == tape.seq
    assert desk.engine.book.n_working == 2
    return probe


def test_orders_engine_applies_ticks_without_python_work_allocation_logging_or_json_per_tick(
    tmp_path,
):
    # advance() doubles its chunk from 64 to 65,536 ticks, so 10x the ticks is a few more chunks (a
    # handful of Python calls and ~30 array arguments to kernels each), where work per tick would be
    # 18,000 more of either.
    small, large = _orders_run(tmp_path / "small", N), _orders_run(tmp_path / "large", 10 * N)
    assert_nothing_per_tick(small, large, call_slack=150, nrt_slack=500)


# -- signals -> orders: the intent ring ------------------------------------------------------------
class _Counters:
    def count(self, name: str, n: int = 1) -> None:
        pass


def _signals_stage(directory, ring: ShmRing, intents: ShmRing) -> SignalsStage:
    """The signals stage's batch loop over in-process rings (nothing else of it is built)."""
    stage = object.__new__(SignalsStage)
    stage.journal = JournalWriter(str(directory / "signals.jsonl"), "never")
    stage.engine, _ = make_engine(_quiet_strategies())
    stage.reader = RingReader(ring, "signals", wait=YieldingWait())
    stage.intents, stage.rt = intentring.IntentWriter(intents), _Counters()
    stage.seq, stage.recent = 0, set()
    stage._init_loop()
    return stage


def _intent_hop_run(directory, n_ticks: int) -> HotPathProbe:
    directory.mkdir()
    ring = ShmRing.create(unique_segment("ring"), 16_384, TICK_DTYPE, readers=[("signals", False)])
    intents = intentring.create(unique_segment("intents"), 64)
    stage = _signals_stage(directory, ring, intents)
    orders = intentring.IntentReader(intents)
    try:
        assert (
            RingWriter(ring).write_batch(interleaved_ticks(n_ticks + 1, 4, seed=5)) == n_ticks + 1
        )
        stage.engine.warm()
        stage.intents.warm()
        orders.warm()
        # first call outside the probe: caches, lazy imports
        stage.buf = np.zeros(1, TICK_DTYPE)
        assert stage._tick_batch() == 1
        stage.buf = np.zeros(n_ticks // CALLS, TICK_DTYPE)
        with HotPathProbe() as probe:
            for _ in range(CALLS):
                assert stage._tick_batch() == n_ticks // CALLS
                # orders' step: the watermark, the records, the
                orders.watermark()
                # commit once its ticks are applied, the sleep
                assert len(orders.read()) == 0
                orders.commit(stage.reader.committed)  # handshake before it blocks
                orders.begin_sleep()
                orders.end_sleep()
        assert orders.seen_watermark == n_ticks + 2 == stage.intents.watermark
        return probe
    finally:
        orders.close()
        stage.intents.close()
        stage.engine.release()
        stage.journal.close()
        stage.reader.close()
        for r in (ring, intents):
            r.close()
            r.unlink()


def test_intent_ring_hop_does_no_python_work_allocation_logging_or_json_per_tick(tmp_path):
    # a first run in a process pays one-off imports
    _intent_hop_run(tmp_path / "warm", N_SIGNALS)
    small = _intent_hop_run(tmp_path / "small", N_SIGNALS)
    large = _intent_hop_run(tmp_path / "large", 10 * N_SIGNALS)
    # call_slack: whether a batch also checks orders' asleep flag depends on how long the batch took
    # (a plain watermark wakes orders at most every millisecond): a few calls per batch, not per
    # tick.
    assert_nothing_per_tick(small, large, call_slack=4 * CALLS, nrt_slack=50)
