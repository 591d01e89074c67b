"""Every streaming kernel against its slow reference, over many instruments interleaved.

tests/signals/test_kernels_nojit.py runs this module again with NUMBA_DISABLE_JIT=1.
"""

import numpy as np
import pytest

from signals.kernels.bracket import bracket_exits, limit_entry
from signals.kernels.crossover import crossover_batch, crossover_update
from signals.kernels.ema import EMA_DTYPE, ema_batch, ema_update
from signals.kernels.sma import SMA_DTYPE, sma_batch, sma_update
from signals.kernels.vwap import VWAP_DTYPE, vwap_batch, vwap_update
from tests.signals.synthetic import TICK, interleaved_ticks, ist_ns, series_ticks

INSTRUMENTS = 7
RTOL = 1e-9


def _sma(rows, n, instruments=INSTRUMENTS, out=None):
    state = np.zeros(instruments, SMA_DTYPE)
    rings = np.zeros((instruments, n + 1))
    out = np.empty(len(rows))
    assert sma_update(rows, state, rings, n, out) == len(rows)
    return out


@pytest.mark.parametrize("n", [1, 5, 30])
def test_sma_matches_the_mean_of_each_instruments_last_n_prices(n):
    rows = interleaved_ticks(3000, INSTRUMENTS, seed=n)
    np.testing.assert_allclose(_sma(rows, n), sma_batch(rows, n, INSTRUMENTS), rtol=RTOL, atol=0)


def test_sma_when_an_outlier_leaves_the_window_then_no_trace_of_it_remains():
    # The window's sum is exact (integer price units): once the outlier is out, the SMA is the
    # correctly rounded mean of the window again, bit for bit, with no drift carried along.
    prices = np.r_[100.0, 9_999_999.95, 100.0 + TICK * (np.arange(2000) % 7)]
    out = _sma(series_ticks(prices), 10, instruments=1)
    for j in range(11, len(prices)):
        assert out[j] == sum(round(p * 100) for p in prices[j - 9:j + 1]) / 1000


def test_sma_processed_in_batches_equals_one_pass():
    rows = interleaved_ticks(1000, INSTRUMENTS, seed=3)
    state = np.zeros(INSTRUMENTS, SMA_DTYPE)
    rings = np.zeros((INSTRUMENTS, 12))
    out = np.empty(len(rows))
    for start in range(0, len(rows), 97):
        sma_update(rows[start:start + 97], state, rings, 11, out[start:start + 97])
    np.testing.assert_allclose(out, sma_batch(rows, 11, INSTRUMENTS), rtol=RTOL, atol=0)


@pytest.mark.parametrize("n", [1, 10, 50])
def test_ema_is_seeded_with_the_sma_and_matches_the_reference(n):
    rows = interleaved_ticks(3000, INSTRUMENTS, seed=10 + n)
    state = np.zeros(INSTRUMENTS, EMA_DTYPE)
    out = np.empty(len(rows))
    assert ema_update(rows, state, n, out) == len(rows)
    np.testing.assert_allclose(out, ema_batch(rows, n, INSTRUMENTS), rtol=RTOL, atol=0)


def test_ema_first_value_is_the_mean_of_the_first_n_prices():
    rows = series_ticks([10.0, 20.0, 30.0, 40.0])
    out = np.empty(4)
    ema_update(rows, np.zeros(1, EMA_DTYPE), 3, out)
    assert np.isnan(out[:2]).all()
    assert out[2] == 20.0
    assert out[3] == pytest.approx(20.0 + 0.5 * (40.0 - 20.0))


def test_crossover_signals_where_the_sign_of_fast_minus_slow_flips():
    nan = np.nan
    fast = np.array([nan, 1.0, 3.0, 2.0, 2.0, 3.0, 1.0, 1.0, 0.5, 2.0])
    slow = np.array([1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    #      warm-up  below  above  touch  touch  above   below  touch  below  above
    expected = [0, 0, 1, 0, 0, 0, -1, 0, 0, 1]
    rows = series_ticks(np.ones(len(fast)))
    out = np.empty(len(fast), dtype=np.int64)
    crossover_update(rows, fast, slow, 0.0, np.zeros(1, np.int64), out)
    assert out.tolist() == expected
    assert crossover_batch(rows, fast, slow, 1).tolist() == expected


def test_leaving_a_level_start_is_a_cross_but_starting_apart_is_not():
    rows = series_ticks(np.ones(4))
    for fast, slow, expected in (([1.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0], [0, 0, 1, 0]),
                                 ([2.0, 2.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0])):
        out = np.empty(4, dtype=np.int64)
        crossover_update(rows, np.array(fast), np.array(slow), 0.0, np.zeros(1, np.int64), out)
        assert out.tolist() == expected
        assert crossover_batch(rows, np.array(fast), np.array(slow), 1).tolist() == expected


def test_crossover_of_two_smas_crosses_at_the_bottom_of_a_v():
    # fast = SMA(2), slow = SMA(4). Falling: fast < slow. At index 6 fast = (5+6)/2 = 5.5 <
    # slow = (7+6+5+6)/4 = 6; at index 7 fast = 6.5 > slow = (6+5+6+7)/4 = 6: the only cross.
    rows = series_ticks([10, 9, 8, 7, 6, 5, 6, 7, 8, 9, 10])
    fast, slow = _sma(rows, 2, 1), _sma(rows, 4, 1)
    out = np.empty(len(rows), dtype=np.int64)
    crossover_update(rows, fast, slow, 0.0, np.zeros(1, np.int64), out)
    assert np.flatnonzero(out).tolist() == [7]
    assert out[7] == 1


def test_crossover_matches_the_reference_on_random_averages():
    rows = interleaved_ticks(4000, INSTRUMENTS, seed=21)
    fast, slow = _sma(rows, 3), _sma(rows, 9)
    out = np.empty(len(rows), dtype=np.int64)
    crossover_update(rows, fast, slow, 0.0, np.zeros(INSTRUMENTS, np.int64), out)
    assert (out == crossover_batch(rows, fast, slow, INSTRUMENTS)).all()
    assert (out != 0).sum() > 50


def test_vwap_matches_the_reference_and_restarts_at_ist_midnight():
    start = ist_ns(20094, 23, 40)  # 23:40 IST: the series runs past midnight
    rows = interleaved_ticks(3000, INSTRUMENTS, seed=40, start_ns=start, snapshot_share=0.05,
                             backstep_share=0.02)
    state = np.zeros(INSTRUMENTS, VWAP_DTYPE)
    out = np.empty(len(rows))
    assert vwap_update(rows, state, out) == len(rows)
    np.testing.assert_allclose(out, vwap_batch(rows, INSTRUMENTS), rtol=RTOL, atol=0)
    assert (state["vwap_day"] == 20095).all()


def test_vwap_ignores_snapshot_ticks_and_starts_over_each_session():
    rows = series_ticks([100.0, 110.0, 120.0, 200.0], qty=10, start_ns=ist_ns(20094, 15, 0),
                        step_ns=6 * 3600 * 1_000_000_000)  # the last two ticks fall on the next day
    rows["flags"][1] = 1  # FLAG_SNAPSHOT
    out = np.empty(4)
    vwap_update(rows, np.zeros(1, VWAP_DTYPE), out)
    assert out.tolist() == [100.0, 100.0, 120.0, 160.0]


def test_bracket_exits_are_rounded_away_from_the_entry_on_the_tick_grid():
    assert bracket_exits(1, 100.05, TICK, 0.5, 1.0) == (99.5, 101.1)
    assert bracket_exits(-1, 100.05, TICK, 0.5, 1.0) == (100.6, 99.0)
    assert limit_entry(1, 100.05, TICK, 2) == 100.15
    assert limit_entry(-1, 2500.0, TICK, 2) == 2499.9


def test_bracket_exits_are_grid_prices_at_least_the_configured_distance_away():
    rng = np.random.default_rng(5)
    for price in np.round(rng.uniform(10, 5000, 300) / TICK) * TICK:
        pct = rng.uniform(0.01, 3.0)
        buy_stop, buy_target = bracket_exits(1, price, TICK, pct, pct)
        sell_stop, sell_target = bracket_exits(-1, price, TICK, pct, pct)
        low, high = price * (1 - pct / 100), price * (1 + pct / 100)
        assert low - TICK < buy_stop <= low + 1e-9 and high - 1e-9 <= buy_target < high + TICK
        assert high - 1e-9 <= sell_stop < high + TICK and low - TICK < sell_target <= low + 1e-9
        assert buy_stop < price < buy_target and sell_target < price < sell_stop
        for leg in (buy_stop, buy_target, sell_stop, sell_target):
            # prints as a clean decimal
            assert repr(leg) == repr(round(round(leg / TICK) * TICK, 2))
