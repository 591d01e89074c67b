"""Positions accounting and the tick-scanning kernels, against slow pure-Python references."""

import numpy as np
import pytest

from common.accounting import apply_trade
from common.dtypes import TICK_DTYPE
from orders.exposure import NEVER_NS, Exposure, apply_ticks, pnl_of, scan_events


def random_ticks(rng, n, n_instruments=3):
    t = np.zeros(n, TICK_DTYPE)
    t["seq"] = np.arange(1, n + 1)
    t["ts_event_ns"] = 1_000_000_000 * 1000 + np.cumsum(rng.integers(0, 3, n)) * 100_000_000
    t["instrument"] = rng.integers(0, n_instruments, n)
    t["price"] = np.round(100 + np.cumsum(rng.normal(0, 0.3, n)), 2)
    return t


def scan_reference(ticks, start, stop, clock, stop_seq, wake, check_loss, floor, ex):
    prices = {int(k): float(ex.last_price[k]) for k in ex.open_instr}
    for t in range(start, stop):
        tick = ticks[t]
        if tick["seq"] >= stop_seq:
            return t
        clock = max(clock, int(tick["ts_event_ns"]))
        if clock >= wake:
            return t
        k = int(tick["instrument"])
        if check_loss and k in prices:
            prices[k] = float(tick["price"])
            pnl = ex.realised_net + sum(ex.pos_qty[j] * (prices[j] - ex.avg_price[j])
                                        for j in prices)
            if pnl <= floor:
                return t
    return stop


def _scan(ticks, start, stop, stop_seq, wake, check_loss, floor, ex):
    return scan_events(ticks, start, stop, ex.clock_ns, stop_seq, wake, check_loss, floor,
                       ex.realised_net, ex.open_instr, ex.open_slot, ex.pos_qty, ex.avg_price,
                       ex.last_price, ex.scratch_px, ex.alert_lo, ex.alert_hi)


@pytest.mark.parametrize("seed", range(8))
def test_exposure_scan_matches_reference_and_leaves_state_untouched(seed):
    rng = np.random.default_rng(seed)
    ticks = random_ticks(rng, 400)
    ex = Exposure(3)
    apply_ticks(ticks, 0, 50, ex.last_price, ex.last_ts, ex.last_seq, ex.clock)
    ex.apply_fill(0, 1, 50, float(ex.last_price[0]), 1.0)
    ex.apply_fill(2, -1, 30, float(ex.last_price[2]), 1.0)
    before = ex.last_price.copy()
    for stop_seq, wake, floor in ((NEVER_NS, NEVER_NS, -20.0), (300, NEVER_NS, -1e9),
                                  (NEVER_NS, int(ticks["ts_event_ns"][200]), -1e9)):
        got = _scan(ticks, 50, 400, stop_seq, wake, True, floor, ex)
        assert got == scan_reference(ticks, 50, 400, ex.clock_ns, stop_seq, wake, True, floor, ex)
    assert np.array_equal(ex.last_price, before)


def test_exposure_scan_on_empty_range_returns_stop():
    ex = Exposure(1)
    assert _scan(np.zeros(0, TICK_DTYPE), 0, 0, NEVER_NS, NEVER_NS, True, -1.0, ex) == 0


def test_exposure_kill_switch_pnl_is_bit_identical_in_scan_and_day_pnl():
    rng = np.random.default_rng(3)
    ticks = random_ticks(rng, 300)
    ex = Exposure(3)
    apply_ticks(ticks, 0, 10, ex.last_price, ex.last_ts, ex.last_seq, ex.clock)
    ex.apply_fill(1, 1, 77, float(ex.last_price[1]) + 0.37, 3.3)
    floor = ex.day_pnl() - 5.0
    hit = _scan(ticks, 10, 300, NEVER_NS, NEVER_NS, True, floor, ex)
    assert hit < 300
    apply_ticks(ticks, 10, hit + 1, ex.last_price, ex.last_ts, ex.last_seq, ex.clock)
    assert ex.day_pnl() <= floor


def test_exposure_average_cost_adds_reduces_and_flips():
    assert apply_trade(0, 0.0, 0.0, 10, 100.0) == (10, 100.0, 0.0)
    assert apply_trade(10, 100.0, 0.0, 10, 110.0) == (20, 105.0, 0.0)
    assert apply_trade(20, 105.0, 0.0, -5, 115.0) == (15, 105.0, 50.0)
    assert apply_trade(15, 105.0, 50.0, -20, 100.0) == (-5, 100.0, -25.0)
    assert apply_trade(-5, 100.0, 0.0, 5, 90.0) == (0, 0.0, 50.0)


def test_exposure_day_pnl_counts_realised_fees_and_mark_to_market():
    ex = Exposure(2)
    ex.last_price[:] = (100.0, 50.0)
    ex.apply_fill(0, 1, 10, 100.0, 2.0)
    ex.apply_fill(0, -1, 4, 103.0, 1.0)
    ex.last_price[0] = 101.0
    assert ex.realised_net == pytest.approx(12.0 - 3.0)
    assert ex.day_pnl() == pytest.approx(9.0 + 6 * 1.0)
    assert ex.gross_exposure() == pytest.approx(606.0)
    assert list(ex.open_instr) == [0]


def test_exposure_market_snapshot_round_trips():
    rng = np.random.default_rng(1)
    ticks = random_ticks(rng, 50)
    ex = Exposure(3)
    apply_ticks(ticks, 0, 50, ex.last_price, ex.last_ts, ex.last_seq, ex.clock)
    other = Exposure(3)
    other.load_market(ex.market_snapshot())
    assert np.array_equal(other.last_price, ex.last_price)
    assert (other.clock_ns, other.tick_seq) == (ex.clock_ns, 50)


def test_exposure_pnl_of_with_no_open_positions_is_the_realised_net():
    none = np.zeros(0, np.int64)
    assert pnl_of(7.5, none, np.zeros(1, np.int64), np.zeros(1), np.zeros(0)) == 7.5


def test_exposure_scan_stops_at_the_first_tick_outside_its_instruments_alert_band():
    ex = Exposure(2)
    ticks = np.zeros(4, TICK_DTYPE)
    ticks["seq"] = [1, 2, 3, 4]
    ticks["instrument"] = [0, 1, 0, 1]
    ticks["price"] = [100.0, 50.0, 99.0, 40.0]
    ex.alert_lo[1] = 45.0                      # a sell SL on instrument 1 gapped below 45
    assert _scan(ticks, 0, 4, NEVER_NS, NEVER_NS, False, -1e9, ex) == 3
    ex.alert_lo[1], ex.alert_hi[0] = -np.inf, 99.5
    assert _scan(ticks, 0, 4, NEVER_NS, NEVER_NS, False, -1e9, ex) == 0
