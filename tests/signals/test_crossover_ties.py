"""Moving-average crossovers at exact ties follow the documented rules, not rounding noise.

The rules (signals/kernels/crossover.py): touching is not a cross; a cross through equality counts
on the tick that completes it; leaving a level start is a cross. Prices are whole paise, so a fast
and a slow SMA are often exactly equal, and a float running sum then decides the tie by its ±1e-12
noise. Every test here checks the strategy's intents against a slow reference in exact rational
arithmetic (fractions.Fraction of each price's decimal text), written from the rules alone.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.schema import StrategyConfig
from signals.kernels.crossover import EMA_TIE_TICKS, crossover_batch, crossover_update
from signals.kernels.sma import price_units, sma_compare
from tests.signals.synthetic import TICK, make_config, make_engine, run_batches, series_ticks


def exact_sma(prices: list[Fraction], n: int) -> list[Fraction | None]:
    return [sum(prices[j - n + 1:j + 1]) / n if j >= n - 1 else None for j in range(len(prices))]


def exact_ema(prices: list[Fraction], n: int) -> list[Fraction | None]:
    alpha, out, value = Fraction(2, n + 1), [], None
    for j, price in enumerate(prices):
        if j == n - 1:
            value = sum(prices[:n]) / n
        elif j >= n:
            value += alpha * (price - value)
        out.append(value)
    return out


def reference_crosses(prices, fast: int, slow: int, ma: str = "sma") -> list[tuple[int, int]]:
    """(tick index, +1 / -1) of every cross, in exact arithmetic, by the documented rules: SMAs
    level only when equal, EMAs level within EMA_TIE_TICKS of the instrument's tick."""
    exact = [Fraction(repr(float(p))) for p in prices]
    average = exact_sma if ma == "sma" else exact_ema
    tie = 0 if ma == "sma" else Fraction(repr(TICK)) * Fraction(repr(EMA_TIE_TICKS))
    side, crosses = None, []     # None: not warm; 0: level since warm; else the last nonzero sign
    for j, (f, s) in enumerate(zip(average(exact, fast), average(exact, slow))):
        if f is None or s is None:
            continue
        sign = (f - s > tie) - (s - f > tie)
        if sign == 0:             # touching: keeps the side (or starts level)
            side = 0 if side is None else side
            continue
        if side is not None and sign != side:
            crosses.append((j, sign))
        side = sign
    return crosses


def strategy_crosses(prices, fast: int, slow: int, ma: str = "sma", batch: int = 64):
    config = make_config(StrategyConfig(name="mac", kind="ma_crossover",
                                  params={"fast": fast, "slow": slow, "ma": ma}))
    engine, _ = make_engine(config)
    sent = run_batches(engine, series_ticks(np.asarray(prices, dtype=np.float64)), batch)
    return [(f["tick_seq"] - 1, f["side"]) for f in sent]


# Offsets in ticks of 0.05 from a base price; fast = SMA(2), slow = SMA(4). By hand: equal when the
# last two prices sum to the two before them.
TIE_CASES = {
    # level from the first warm tick (index 3), level again, then up: leaving a level start at 5.
    "leaving_a_level_start": ([0, 0, 0, 0, 0, 1], [(5, 1)]),
    # below at 3 (first warm: no cross), fast == slow = base + 2.5 ticks at 4, below again at 5.
    "touch_from_below_and_back": ([4, 3, 2, 1, 4, -2], []),
    # below at 3, equal at 4, above at 5: the cross is on the tick that completes it.
    "cross_up_through_equality": ([4, 3, 2, 1, 4, 2], [(5, 1)]),
    "touch_from_above_and_back": ([-4, -3, -2, -1, -4, 2], []),
    "cross_down_through_equality": ([-4, -3, -2, -1, -4, -2], [(5, -1)]),
}


@pytest.mark.parametrize("base", [1602.35, 1602.40, 2500.05])   # where float sums land off the tie
@pytest.mark.parametrize("case", sorted(TIE_CASES))
def test_sma_crossover_when_fast_and_slow_are_exactly_equal_then_follows_the_tie_rules(case, base):
    offsets, expected = TIE_CASES[case]
    prices = [round(base + 0.05 * k, 2) for k in offsets]
    assert reference_crosses(prices, 2, 4) == expected
    assert strategy_crosses(prices, 2, 4) == expected


@pytest.mark.parametrize("base", [1598.60, 1602.35, 733.15])
def test_ema_crossover_when_the_market_goes_flat_then_the_averages_meet_without_a_noise_cross(base):
    # EMA(3) and EMA(7) both start level at index 6 (seeded on seven equal prices); up 8 ticks from
    # index 7 (fast above: leaving the level start); flat for 300 ticks (15-314), where both
    # converge on the price from below, fast always the closer (exactly: 0.5**k against 0.75**k of
    # the gap) while in floats they end up ulps apart either way; then down at 315: fast drops below
    # slow.
    prices = [round(base + 0.05 * k, 2) for k in [0] * 7 + list(range(1, 9)) + [8] * 300 + [7, 6]]
    assert reference_crosses(prices, 3, 7, "ema") == [(7, 1), (315, -1)]
    assert strategy_crosses(prices, 3, 7, "ema") == [(7, 1), (315, -1)]


def test_crossover_when_two_floats_are_within_the_tie_then_they_are_level():
    # EMAs that are level except for noise: a touch from below (within the tie), back below, then a
    # cross through a second touch. With tie=0 the noise would count as crossing both times.
    noise = 1e-12
    fast = np.array([1.0, 2.0 + noise, 1.0, 2.0 - noise, 3.0])
    slow = np.full(5, 2.0)
    rows = series_ticks(np.ones(5))
    for tie, expected in ((1e-9, [0, 0, 0, 0, 1]), (0.0, [0, 1, -1, 0, 1])):
        out = np.empty(5, dtype=np.int64)
        crossover_update(rows, fast, slow, tie, np.zeros(1, np.int64), out)
        assert out.tolist() == expected
        assert crossover_batch(rows, fast, slow, 1, tie).tolist() == expected


def test_sma_compare_is_exact_where_cross_multiplying_would_overflow_int64():
    big = 9 * 10**18 // 7 * 7                      # a multiple of 7 near the int64 limit
    assert sma_compare(big, 7, big // 7 * 5, 5) == 0
    assert sma_compare(big, 7, big // 7 * 5 + 1, 5) == -1
    assert sma_compare(big + 1, 7, big // 7 * 5, 5) == 1
    assert (
        sma_compare(10, 4, 5, 2) == 0
        and sma_compare(11, 4, 5, 2) == 1
        and sma_compare(9, 4, 5, 2) == -1
    )


def test_price_units_are_whole_ten_thousandths_of_a_rupee_for_every_tick_grid():
    for price, units in (
        (1598.6, 15_986_000),
        (0.05, 500),
        (83.2525, 832_525),
        (99999.95, 999_999_500),
    ):
        assert price_units(price) == units


@st.composite
def paise_paths(draw):
    """A whole-paise price path on a 5- or 1-paise grid that often repeats levels (ties)."""
    tick = draw(st.sampled_from([5, 1]))
    start = draw(st.integers(20, 2_000_000)) * tick            # ₹1 to ₹1 lakh
    steps = draw(st.lists(st.integers(-2, 2), min_size=4, max_size=70))
    return [max(tick, start + tick * s) / 100 for s in np.cumsum(steps)]


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(
    prices=paise_paths(), fast=st.integers(1, 5), extra=st.integers(1, 7), batch=st.integers(1, 9)
)
def test_sma_crossover_on_any_whole_paise_path_then_raises_exactly_the_exact_references_intents(
        prices, fast, extra, batch):
    slow = fast + extra
    assert strategy_crosses(prices, fast, slow, batch=batch) == reference_crosses(
        prices, fast, slow
    )


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(prices=paise_paths(), fast=st.integers(1, 5), extra=st.integers(1, 7))
def test_ema_crossover_on_any_whole_paise_path_then_raises_exactly_the_exact_references_intents(
        prices, fast, extra):
    slow = fast + extra
    assert strategy_crosses(prices, fast, slow, "ema") == reference_crosses(
        prices, fast, slow, "ema"
    )
