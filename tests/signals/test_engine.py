"""The engine: every strategy over each batch, intents in an order that does not depend on
batching."""

import numpy as np
import pytest
from numba import config as numba_config

from common.errors import ConfigError
from common.shm import attach_segment, create_segment, segment_name
from config.schema import StrategyConfig
from signals.engine import SignalEngine
from signals.kernels.commit import MAX_PRICE
from signals.layout import OUTBOX_SEGMENT, STATE_SEGMENT, segment_sizes
from tests.signals.synthetic import (instrument_table, interleaved_ticks, make_config, make_engine,
                                     run_batches)
from tests.support import unique_run_id


def _three_strategies():
    return make_config(
        StrategyConfig(
            name="fast", kind="ma_crossover", params={"fast": 3, "slow": 8, "ma": "sma"}
        ),
        StrategyConfig(
            name="slow",
            kind="ma_crossover",
            instruments=("AAA", "CCC"),
            params={"fast": 10, "slow": 40, "ma": "ema", "order_type": "LIMIT"},
        ),
        StrategyConfig(
            name="vwr", kind="vwap_revert", params={"band_pct": 0.15, "min_session_ticks": 10}
        ),
    )


def test_intents_come_out_in_the_same_order_whatever_the_batch_sizes():
    config, rows = _three_strategies(), interleaved_ticks(3000, 4, seed=8)
    runs = []
    for batch in (1, 7, 64, 3000):
        engine, _ = make_engine(config)
        runs.append(run_batches(engine, rows, batch))
    assert all(run == runs[0] for run in runs[1:])
    assert {f["strategy"] for f in runs[0]} == {"fast", "slow", "vwr"}
    keys = [(f["tick_seq"], ["fast", "slow", "vwr"].index(f["strategy"])) for f in runs[0]]
    assert keys == sorted(keys)


def test_every_strategy_applies_every_tick_it_trades_and_counts_them():
    config, rows = _three_strategies(), interleaved_ticks(1000, 4, seed=9)
    engine, _ = make_engine(config)
    run_batches(engine, rows, 100)
    traded_by_slow = np.isin(rows["instrument"], [0, 2]).sum()
    assert engine.stats() == {
        "fast": {"applied": 1000, "replayed": 0, "outbox_full": 0},
        "slow": {"applied": int(traded_by_slow), "replayed": 0, "outbox_full": 0},
        "vwr": {"applied": 1000, "replayed": 0, "outbox_full": 0},
    }


def test_ticks_the_engine_cannot_use_are_passed_over():
    config = _three_strategies()
    rows = interleaved_ticks(200, 4, seed=10)
    rows["instrument"][::10] = 9          # not in the instrument table
    rows["price"][5::10] = np.nan         # no trade price
    rows["price"][6::10] = 0.0
    engine, _ = make_engine(config)
    consumed, _ = engine.process(rows)
    assert consumed == 200
    assert engine.stats()["fast"]["applied"] == 200 - 60


def test_a_tick_priced_at_or_above_max_price_when_processed_then_is_passed_over_like_no_trade():
    # 1e300 (a broken feed row) would overflow the SMA's exact integer sums and poison every
    # average; the strategies must act as if the row were not there.
    config = _three_strategies()
    rows = interleaved_ticks(2000, 4, seed=14)
    broken = rows.copy()
    broken["price"][[100, 700, 1500]] = [1e300, np.inf, MAX_PRICE]
    clean_engine, _ = make_engine(config)
    broken_engine, _ = make_engine(config)
    clean = run_batches(clean_engine, np.delete(rows, [100, 700, 1500]), 64)
    assert run_batches(broken_engine, broken, 64) == clean
    assert broken_engine.stats()["fast"]["applied"] == 2000 - 3


def test_a_strided_batch_is_processed_like_a_contiguous_one():
    config, rows = _three_strategies(), interleaved_ticks(2000, 4, seed=12)
    wide = np.zeros(len(rows) * 2, dtype=rows.dtype)
    wide[::2] = rows
    a, _ = make_engine(config)
    b, _ = make_engine(config)
    assert run_batches(a, rows, 500) == run_batches(b, wide[::2], 500)


def test_a_strategy_symbol_missing_from_the_instrument_table_is_a_config_error():
    config = _three_strategies()
    table = instrument_table(config)[:2]   # no CCC, DDD
    with pytest.raises(ConfigError, match="CCC"):
        make_engine_with_table(config, table)


def make_engine_with_table(config, table):
    sizes = segment_sizes(config)
    return SignalEngine(
        config, table, bytearray(sizes[STATE_SEGMENT]), bytearray(sizes[OUTBOX_SEGMENT])
    )


def test_segment_sizes_name_both_segments_and_grow_with_the_config():
    small = segment_sizes(
        make_config(StrategyConfig(name="a", kind="ma_crossover"), symbols=("AAA",))
    )
    large = segment_sizes(_three_strategies())
    assert set(small) == {"signals_state", "signals_outbox"}
    assert large["signals_state"] > small["signals_state"]
    assert large["signals_outbox"] == small["signals_outbox"]


def test_warm_loads_each_kernel_once_for_the_segment_backed_arrays_and_changes_nothing():
    config = _three_strategies()
    sizes = segment_sizes(config)
    run_id = unique_run_id()
    owned = [create_segment(segment_name(run_id, what), size) for what, size in sizes.items()]
    try:
        state, outbox = (attach_segment(segment.name) for segment in owned)
        table = instrument_table(config)
        table.flags.writeable = False     # as InstrumentTable.attach hands it over
        engine = SignalEngine(config, table, state.buf, outbox.buf)
        before = bytes(state.buf), bytes(outbox.buf)
        engine.warm()
        assert (bytes(state.buf), bytes(outbox.buf)) == before
        run_batches(engine, interleaved_ticks(500, 4, seed=13), 50)
        if not numba_config.DISABLE_JIT:  # one compiled signature each: warm-up covered them all
            assert [len(run.kernel.signatures) for run in engine.runs] == [1, 1, 1]
        engine.release()
        for segment in (state, outbox):
            segment.close()
    finally:
        for segment in owned:
            segment.unlink()
            segment.close()
