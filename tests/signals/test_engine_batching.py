"""The engine's intents do not depend on how ticks are cut into batches or how small the outbox is.

The stage calls `SignalEngine.process` on whatever the ring hands it, and again on the rest whenever
the outbox fills; a replay after a crash cuts the stream elsewhere again. The ordered list of
intents (what orders sees) must be the same in every case, or two runs of the same ticks diverge.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import ConfigError
from config.schema import StrategyConfig
from tests.signals.synthetic import drain, interleaved_ticks, ist_ns, make_config, make_engine

STRATEGIES = {
    "sma": StrategyConfig(
        name="sma", kind="ma_crossover", params={"fast": 2, "slow": 5, "ma": "sma"}
    ),
    "ema": StrategyConfig(
        name="ema",
        kind="ma_crossover",
        instruments=("AAA", "CCC", "DDD"),
        params={"fast": 3, "slow": 8, "ma": "ema", "order_type": "LIMIT"},
    ),
    "vwr": StrategyConfig(
        name="vwr", kind="vwap_revert", params={"band_pct": 0.05, "min_session_ticks": 5}
    ),
}


def _in_one_go(config, rows) -> list[dict]:
    engine, _ = make_engine(config)                     # the full 4,096-intent outbox
    consumed, _ = engine.process(rows)
    assert consumed == len(rows)
    return drain(engine)


def _in_pieces(config, rows, cuts: list[int], capacity: int) -> list[dict]:
    """Batches of the sizes in `cuts` (cycled), each processed until done, draining between
    calls."""
    engine, _ = make_engine(config, outbox_capacity=capacity)
    sent, start, k = [], 0, 0
    while start < len(rows):
        chunk = rows[start:start + cuts[k % len(cuts)]]
        start, k = start + len(chunk), k + 1
        while len(chunk):
            consumed, _ = engine.process(chunk)
            sent += drain(engine)
            chunk = chunk[consumed:]
    return sent


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(names=st.lists(st.sampled_from(sorted(STRATEGIES)), min_size=1, max_size=3, unique=True),
       seed=st.integers(0, 2**32 - 1), n=st.integers(20, 600),
       # some paths run past IST midnight (new session)
       minute=st.integers(50, 59),
       cuts=st.lists(st.integers(1, 300), min_size=1, max_size=12),
       capacity=st.sampled_from([4, 8, 16, 64]))
def test_engine_when_ticks_are_cut_anyhow_and_the_outbox_is_small_then_intents_are_identical(
        names, seed, n, minute, cuts, capacity):
    config = make_config(*(STRATEGIES[name] for name in names))
    rows = interleaved_ticks(n, 4, seed=seed, start_ns=ist_ns(20094, 23, minute))
    expected = _in_one_go(config, rows)
    assert _in_pieces(config, rows, cuts, capacity) == expected
    keys = [(f["tick_seq"], names.index(f["strategy"])) for f in expected]
    assert keys == sorted(keys)


def test_engine_batching_property_when_run_then_sees_intents_from_every_strategy():
    # The property above is only worth something if the paths it draws raise intents of every kind.
    config = make_config(*STRATEGIES.values())
    sent = _in_pieces(
        config, interleaved_ticks(600, 4, seed=1, start_ns=ist_ns(20094, 23, 55)), [7], 4
    )
    assert {f["strategy"] for f in sent} == set(STRATEGIES)
    assert len(sent) > 100


def test_engine_when_the_outbox_is_smaller_than_the_strategies_then_it_is_a_config_error():
    config = make_config(*STRATEGIES.values())
    with pytest.raises(ConfigError, match="3 strategies, but the intent outbox holds 2"):
        make_engine(config, outbox_capacity=2)
    engine, _ = make_engine(config, outbox_capacity=4)
    # 4 // 3 strategies: a tick a call
    assert engine.process(interleaved_ticks(10, 4, seed=2))[0] == 1
