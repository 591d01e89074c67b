"""ma_crossover's `one_trade`: after an intent, no intent on that instrument until a tick trades at
or through the intent's stop or target (signals/strategies/ma_crossover.py), checked against a
pure-Python reference built from the plain strategy's intents."""

import numpy as np
import pytest

from config.schema import StrategyConfig
from tests.signals.synthetic import (
    make_config,
    make_engine,
    regime_prices,
    run_batches,
    series_ticks,
)
from tests.signals.test_ma_crossover import _two_instruments


def _mac(**params):
    return make_config(StrategyConfig(name="mac", kind="ma_crossover", params=params))


def _held_reference(rows, every_cross):
    """Of the plain strategy's intents (every cross), the ones one trade at a time lets through."""
    by_seq = {f["tick_seq"]: f for f in every_cross}
    held: dict[int, dict] = {}          # instrument -> the intent whose trade is open
    kept = []
    for row in rows:
        k, price = int(row["instrument"]), float(row["price"])
        trade = held.get(k)
        if trade is not None:
            low, high = sorted((trade["stop_loss"], trade["target"]))
            if price <= low or price >= high:
                del held[k]
        cross = by_seq.get(int(row["seq"]))
        if cross is not None and k not in held:
            kept.append(cross)
            held[k] = cross
    return kept


@pytest.mark.parametrize("batch", [1, 37, 500])
def test_one_trade_when_a_trade_is_held_then_crosses_raise_nothing_until_its_stop_or_target_trades(
    batch,
):
    rows = _two_instruments(seed=7, n=6000)
    params = dict(fast=5, slow=20, ma="ema", stop_loss_pct=0.2, target_pct=0.4)
    plain, _ = make_engine(_mac(**params))
    every_cross = run_batches(plain, rows, 64)
    engine, _ = make_engine(_mac(one_trade=True, **params))
    got = run_batches(engine, rows, batch)
    expected = _held_reference(rows, every_cross)
    assert [(f["tick_seq"], f["side"]) for f in got] == [
        (f["tick_seq"], f["side"]) for f in expected
    ]
    assert 10 < len(got) < len(every_cross) // 2       # it holds, and it still trades


def test_one_trade_when_the_trade_exits_then_the_next_cross_is_an_intent_again():
    # Up a tick at a time: cross up and hold; the target (0.4 % above) trades; a fall crosses down.
    prices = np.r_[
        np.full(30, 500.0), 500.0 + 0.05 * np.arange(1, 80), 503.95 - 0.05 * np.arange(1, 200)
    ]
    engine, _ = make_engine(_mac(fast=3, slow=10, ma="sma", one_trade=True, stop_loss_pct=0.2,
                                 target_pct=0.4))
    sent = run_batches(engine, series_ticks(prices), 16)
    assert [f["side"] for f in sent] == [1, -1]
    # the long's target traded before the cross down
    assert sent[0]["target"] <= 503.95


def test_one_trade_off_then_every_cross_is_an_intent():
    rows = series_ticks(regime_prices(3000, seed=9))
    params = dict(fast=5, slow=20, ma="ema")
    off, _ = make_engine(_mac(one_trade=False, **params))
    plain, _ = make_engine(_mac(**params))
    assert run_batches(off, rows, 50) == run_batches(plain, rows, 50)
