"""The feed's tick sanity filter at the edges a trader meets: an overnight gap, a circuit-sized
move, a replay whose timestamps step back by a few ms, and a stream of absurd prices."""

import numpy as np

from common.dtypes import TICK_DTYPE
from config.schema import TickSanityConfig
from feed.sanity import TickSanity

T0 = 1_767_584_700_000_000_000   # 2026-01-05 09:15 IST
MS = 1_000_000
DAY = 86_400 * 1_000_000_000


def ticks(prices, ts) -> np.ndarray:
    rows = np.zeros(len(prices), TICK_DTYPE)
    rows["price"], rows["ts_event_ns"] = prices, ts
    return rows


def screened(filt: TickSanity, rows: np.ndarray) -> list[float]:
    rows = rows.copy()
    return rows[:filt.screen(rows)]["price"].tolist()


def replay_filter() -> TickSanity:
    return TickSanity(TickSanityConfig(), [100.0], clock="recording", batch=64)


def test_sanity_when_the_next_session_opens_15_pct_higher_then_its_first_tick_is_accepted():
    filt = replay_filter()
    got = screened(
        filt, ticks([100.0, 100.1, 115.1, 115.2], [T0, T0 + MS, T0 + DAY, T0 + DAY + MS])
    )
    assert got == [100.0, 100.1, 115.1, 115.2] and filt.counts.sum() == 0


def test_sanity_when_a_stock_moves_25_pct_then_the_first_four_ticks_are_dropped_and_the_fifth_reanchors():  # noqa: E501 - the name is the test's sentence
    filt = replay_filter()
    got = screened(
        filt, ticks([100.0] + [125.0 + i * 0.05 for i in range(6)], T0 + np.arange(7) * MS)
    )
    assert got == [100.0, 125.2, 125.25] and filt.count("price_jump") == 4


def test_sanity_when_a_replay_steps_back_a_few_ms_then_only_that_tick_is_dropped_as_out_of_order():
    filt = replay_filter()
    got = screened(
        filt,
        ticks([100.0, 100.1, 100.2, 100.3], [T0 + 5 * MS, T0 + 10 * MS, T0 + 7 * MS, T0 + 11 * MS]),
    )
    assert got == [100.0, 100.1, 100.3] and filt.count("out_of_order") == 1


def test_sanity_when_a_feed_repeats_an_absurd_price_then_it_never_reaches_the_ring():
    filt = replay_filter()
    got = screened(filt, ticks([100.0] + [1e300] * 8, T0 + np.arange(9) * MS))
    assert got == [100.0]


def test_sanity_when_a_feed_repeats_a_price_a_hundred_times_off_then_it_never_re_anchors():
    """A field decoded with the wrong divisor agrees with itself tick after tick."""
    filt = replay_filter()
    got = screened(filt, ticks([100.0] + [10_000.0] * 8, T0 + np.arange(9) * MS))
    assert got == [100.0]
