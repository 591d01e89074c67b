"""The tick sanity filter (feed/sanity.py): what it drops, why, and what it never lets move."""

import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from common.dtypes import TICK_DTYPE
from config.schema import TickSanityConfig
from feed.sanity import TickSanity, event_clock_trace

T0 = 1_767_584_700_000_000_000   # 2026-01-05 09:15 IST
MS = 1_000_000
DAY = 86_400 * 1_000_000_000


def ticks(prices, ts=None, inst=None) -> np.ndarray:
    rows = np.zeros(len(prices), TICK_DTYPE)
    rows["price"] = prices
    rows["ts_event_ns"] = T0 + np.arange(len(prices)) * MS if ts is None else ts
    rows["instrument"] = 0 if inst is None else inst
    return rows


def sanity(clock="recording", refs=(100.0, 2000.0), **cfg) -> TickSanity:
    return TickSanity(TickSanityConfig(**cfg), list(refs), clock=clock, batch=64)


def screened(filt: TickSanity, rows: np.ndarray) -> np.ndarray:
    rows = rows.copy()
    return rows[:filt.screen(rows)]


def test_sanity_when_one_price_jumps_past_the_band_then_only_it_is_dropped_as_price_jump():
    filt = sanity()
    got = screened(filt, ticks([100.0, 100.5, 1e300, 101.0, 79.0, 100.9]))
    assert got["price"].tolist() == [100.0, 100.5, 101.0, 100.9]
    assert filt.count("price_jump") == 2          # 1e300 and 79 (-21.8 % from 101)
    assert filt.last_good[0] == 100.9


def test_sanity_when_prices_are_nan_inf_or_not_positive_then_they_count_as_malformed():
    filt = sanity()
    got = screened(filt, ticks([100.0, np.nan, np.inf, 0.0, -3.0, 100.1]))
    assert got["price"].tolist() == [100.0, 100.1]
    assert filt.count("malformed") == 4


def test_sanity_when_the_instrument_index_is_outside_the_table_then_it_counts_as_unknown():
    filt = sanity()
    got = screened(filt, ticks([100.0, 100.0], inst=[0, 7]))
    assert len(got) == 1 and filt.count("unknown") == 1


def test_sanity_first_tick_when_far_from_ref_price_then_dropped_and_within_the_band_accepted():
    filt = sanity(ref_band_pct=50.0)
    got = screened(filt, ticks([1e300, 160.0, 140.0, 2500.0], inst=[0, 0, 0, 1]))
    # 1e300 and 160 (+60 %) are refused for want of a last good price; 140 is within 50 % of 100.
    assert got["price"].tolist() == [140.0, 2500.0]
    assert filt.count("price_jump") == 2


def test_sanity_first_tick_when_ref_band_is_zero_then_any_positive_price_is_accepted():
    filt = sanity(ref_band_pct=0.0)
    assert screened(filt, ticks([5000.0, 5001.0]))["price"].tolist() == [5000.0, 5001.0]


def test_sanity_when_reanchor_ticks_agree_on_a_new_level_then_the_level_is_accepted():
    filt = sanity(reanchor_ticks=3)
    got = screened(filt, ticks([100.0, 150.0, 151.0, 150.5, 150.8]))
    assert got["price"].tolist() == [100.0, 150.5, 150.8]     # the 3rd agreeing tick re-anchors
    assert filt.count("price_jump") == 2


def test_sanity_when_refused_ticks_disagree_with_each_other_then_no_reanchor():
    filt = sanity(reanchor_ticks=3)
    got = screened(filt, ticks([100.0, 150.0, 1e300, 150.0, 1e6, 150.0, 100.2]))
    assert got["price"].tolist() == [100.0, 100.2]


def test_sanity_when_reanchor_is_zero_then_a_new_level_is_refused_forever():
    filt = sanity(reanchor_ticks=0)
    assert screened(filt, ticks([100.0] + [150.0] * 20))["price"].tolist() == [100.0]


def test_sanity_when_circuit_limits_are_known_then_prices_outside_them_are_dropped():
    filt = sanity()
    filt.set_circuit_limits(0, 95.0, 105.0)
    got = screened(filt, ticks([100.0, 94.95, 105.05, 104.0]))
    assert got["price"].tolist() == [100.0, 104.0]
    assert filt.count("outside_circuit") == 2
    filt.set_circuit_limits(0, 0.0, 0.0)                    # unknown again: unchecked
    assert len(screened(filt, ticks([94.0], ts=[T0 + 10 * MS]))) == 1


def test_sanity_event_clock_when_one_row_is_far_ahead_then_it_is_dropped_and_the_clock_does_not_move():  # noqa: E501 - the name is the test's sentence
    filt = sanity()
    ts = T0 + np.arange(6) * MS
    ts[2] = 9_000_000_000_000_000_000
    got = screened(filt, ticks([100.0] * 6, ts=ts))
    assert got["ts_event_ns"].tolist() == [t for i, t in enumerate(ts.tolist()) if i != 2]
    assert filt.count("ts_ahead") == 1 and filt.count("out_of_order") == 0
    assert filt.clock[0] == ts[5]


def test_sanity_recording_when_the_first_row_is_far_ahead_of_the_wall_clock_then_it_cannot_set_the_clock():  # noqa: E501 - the name is the test's sentence
    filt = sanity()
    ts = [9_000_000_000_000_000_000, T0, T0 + 1, T0 + 2]
    got = screened(filt, ticks([100.0] * 4, ts=ts))
    assert got["ts_event_ns"].tolist() == ts[1:]
    assert filt.count("ts_ahead") == 1 and filt.count("out_of_order") == 0


def test_sanity_synthetic_clock_when_the_session_is_in_the_future_then_nothing_is_dropped():
    filt = sanity(clock="synthetic")
    later = time.time_ns() + 400 * DAY              # a sim session_date next year
    assert len(screened(filt, ticks([100.0] * 3, ts=[later, later + 1, later + 2]))) == 3


def test_sanity_event_clock_when_a_row_is_earlier_than_the_clock_then_it_is_out_of_order():
    filt = sanity()
    got = screened(filt, ticks([100.0] * 3, ts=[T0, T0 - 1, T0 + 1]))
    assert got["ts_event_ns"].tolist() == [T0, T0 + 1] and filt.count("out_of_order") == 1


def test_sanity_event_clock_when_the_recording_skips_a_weekend_then_nothing_is_dropped():
    filt = sanity()
    assert len(screened(filt, ticks([100.0] * 3, ts=[T0, T0 + 3 * DAY, T0 + 3 * DAY + 1]))) == 3


def test_sanity_event_clock_when_a_gap_beyond_max_gap_persists_then_the_clock_reanchors():
    filt = sanity(reanchor_ticks=3)
    later = T0 + 40 * DAY
    got = screened(filt, ticks([100.0] * 5, ts=[T0, later, later + 1, later + 2, later + 3]))
    assert got["ts_event_ns"].tolist() == [T0, later + 2, later + 3]
    assert filt.count("ts_ahead") == 2


def test_sanity_wall_clock_when_a_live_tick_is_ahead_of_now_then_it_is_dropped_and_late_ones_pass():
    filt = sanity(clock="wall", max_ahead_s=60.0)
    now = time.time_ns()
    ts = [now, now + 3_600 * 10**9, now - 5 * 10**9, now - 10 * 10**9]
    got = screened(filt, ticks([100.0] * 4, ts=ts))
    # no out-of-order rule on live ticks
    assert got["ts_event_ns"].tolist() == [ts[0], ts[2], ts[3]]
    assert filt.count("ts_ahead") == 1


def test_event_clock_trace_is_monotone_and_ignores_a_far_future_row():
    ts = np.array([T0, T0 + 1, 9_000_000_000_000_000_000, T0 + 2, T0 - 5, T0 + 3], np.int64)
    out = np.empty(len(ts), np.int64)
    event_clock_trace(ts, time.time_ns() + 7 * DAY, 7 * DAY, 5, out)
    assert out.tolist() == [T0, T0 + 1, T0 + 1, T0 + 2, T0 + 2, T0 + 3]


_stream = st.lists(
    st.tuples(
        st.sampled_from([0, 1]),
        st.sampled_from([100.0, 100.5, 101.0, 130.0, 60.0, 1e300, np.nan, 2000.0, 2010.0]),
        st.sampled_from([0, 1, 2, -3, 50 * DAY // MS]),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(_stream, st.lists(st.integers(1, 17), min_size=1, max_size=10))
def test_sanity_decisions_do_not_depend_on_how_the_stream_is_batched(stream, cuts):
    inst, prices, steps = (np.array(x) for x in zip(*stream))
    rows = ticks(
        prices.astype(float),
        ts=T0 + np.cumsum(steps.astype(np.int64) * MS),
        inst=inst.astype(np.uint16),
    )
    whole = sanity(reanchor_ticks=2)
    expected = screened(whole, rows)
    pieces, start, batched = [], 0, sanity(reanchor_ticks=2)
    for cut in cuts * (len(rows) // sum(cuts) + 1):
        if start >= len(rows):
            break
        pieces.append(screened(batched, rows[start:start + cut]))
        start += cut
    assert np.array_equal(np.concatenate(pieces), expected)
    assert np.array_equal(batched.counts, whole.counts) and np.array_equal(
        batched.clock, whole.clock
    )


def test_sanity_screen_does_no_python_work_per_tick():
    from tests.test_hot_path import HotPathProbe, assert_nothing_per_tick

    def run(n):
        # drops too: the compaction path
        rows = ticks(np.where(np.arange(n) % 50 == 7, 1e300, 100.0))
        filt = TickSanity(TickSanityConfig(), [100.0], clock="recording", batch=n)
        # compiled and warm before probing
        filt.screen(rows[:10].copy())
        with HotPathProbe() as probe:
            for part in np.array_split(rows[10:], 4):
                filt.screen(part)
        return probe

    assert_nothing_per_tick(run(2_000), run(20_000), nrt_slack=0)
