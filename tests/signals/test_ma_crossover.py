"""The default strategy trades crossovers the way its module docstring says."""

import numpy as np
import pytest

from config.schema import StrategyConfig
from signals.kernels.crossover import crossover_batch
from signals.kernels.ema import ema_batch
from signals.kernels.sma import sma_batch
from tests.signals.synthetic import (
    TICK,
    make_config,
    make_engine,
    regime_prices,
    run_batches,
    series_ticks,
)


def _mac(**params):
    return make_config(StrategyConfig(name="mac", kind="ma_crossover", params=params))


def _two_instruments(seed, n=3000):
    """Continuous random walks (no exact ties between the averages), interleaved."""
    rng = np.random.default_rng(seed)
    a = series_ticks(1000.0 + np.cumsum(rng.normal(0, 0.7, n)), instrument=0)
    b = series_ticks(400.0 + np.cumsum(rng.normal(0, 0.3, n)), instrument=1)
    rows = np.concatenate([a, b])[np.argsort(np.r_[np.arange(n) * 2, np.arange(n) * 2 + 1])]
    rows["seq"] = np.arange(1, len(rows) + 1)
    return rows


def _expected_intents(rows, fast, slow, ma, allow_short=True):
    average = sma_batch if ma == "sma" else ema_batch
    signals = crossover_batch(rows, average(rows, fast, 4), average(rows, slow, 4), 4)
    keep = (signals > 0) | ((signals < 0) & allow_short)
    return [
        (int(r["seq"]), int(r["instrument"]), int(s)) for r, s in zip(rows[keep], signals[keep])
    ]


@pytest.mark.parametrize("ma", ["sma", "ema"])
def test_ma_crossover_raises_an_intent_at_every_cross_of_the_reference_averages(ma):
    rows = _two_instruments(seed=1 if ma == "sma" else 2)
    engine, _ = make_engine(_mac(fast=5, slow=20, ma=ma))
    sent = run_batches(engine, rows, 64)
    got = [(f["tick_seq"], f["instrument"], f["side"]) for f in sent]
    assert got == _expected_intents(rows, 5, 20, ma)
    assert len(got) > 50


def test_ma_crossover_trades_both_ways_on_a_trending_and_mean_reverting_series():
    rows = series_ticks(regime_prices(4000, seed=3))
    engine, _ = make_engine(_mac(fast=10, slow=30, ma="ema"))
    sent = run_batches(engine, rows, 100)
    sides = [f["side"] for f in sent]
    assert sides.count(1) >= 5 and sides.count(-1) >= 5
    assert all(a != b for a, b in zip(sides, sides[1:]))  # a cross up is followed by a cross down
    for fields in sent:
        price = float(rows["price"][fields["tick_seq"] - 1])
        low, high = (fields["stop_loss"], fields["target"])[::fields["side"]]
        assert low < price < high
        assert fields["order_type"] == "MARKET" and fields["limit_price"] == 0.0


def test_ma_crossover_goes_long_in_an_uptrend_and_short_in_a_downtrend():
    prices = np.r_[
        np.full(40, 500.0), 500.0 + TICK * np.arange(1, 200), 509.95 - TICK * np.arange(1, 400)
    ]
    engine, _ = make_engine(_mac(fast=3, slow=10, ma="sma"))
    sent = run_batches(engine, series_ticks(prices), 32)
    assert [f["side"] for f in sent] == [1, -1]
    assert 40 < sent[0]["tick_seq"] <= 45 and 239 < sent[1]["tick_seq"] <= 245


def test_without_allow_short_a_bearish_cross_raises_nothing():
    rows = _two_instruments(seed=4)
    engine, _ = make_engine(_mac(fast=5, slow=20, ma="sma", allow_short=False))
    sent = run_batches(engine, rows, 64)
    assert {f["side"] for f in sent} == {1}
    got = [(f["tick_seq"], f["instrument"], f["side"]) for f in sent]
    assert got == _expected_intents(rows, 5, 20, "sma", allow_short=False)


def test_limit_entries_are_priced_the_configured_ticks_through_the_last_price():
    rows = series_ticks(regime_prices(3000, seed=5))
    engine, _ = make_engine(_mac(fast=5, slow=15, order_type="LIMIT", limit_offset_ticks=3, qty=7))
    sent = run_batches(engine, rows, 100)
    assert len(sent) > 10
    for fields in sent:
        price = float(rows["price"][fields["tick_seq"] - 1])
        assert fields["limit_price"] == pytest.approx(price + fields["side"] * 3 * TICK, abs=1e-9)
        assert fields["qty"] == 7


def test_a_strategy_trades_only_the_instruments_it_lists():
    config = make_config(StrategyConfig(name="mac", kind="ma_crossover", instruments=("BBB",),
                                  params={"fast": 5, "slow": 20}))
    engine, _ = make_engine(config)
    sent = run_batches(engine, _two_instruments(seed=6), 64)
    assert sent and {f["instrument"] for f in sent} == {1}
    assert {f["symbol"] for f in sent} == {"BBB"}
