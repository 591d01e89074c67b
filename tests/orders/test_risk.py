"""Every pre-trade check, approved and denied, on the numba kernel itself."""

import numpy as np
import pytest

from common.tradingstate import TradingState
from orders.limits import PHASE_CLOSED, PHASE_NO_ENTRY, PHASE_OPEN, PHASE_PRE_OPEN, PHASE_SQUARE_OFF
from orders.risk import CHECK_DTYPE, CODES, check_entry, describe, off_tick, round_to_tick
from tests.orders.risk_support import limits_of
from tests.orders.stubs import ist_ns

NOW = ist_ns(10, 0)
LIMITS = limits_of(max_order_qty=100, max_order_notional_inr=50_000.0, max_position_qty=150,
                   max_gross_exposure_inr=100_000.0, max_open_orders=5, rate_per_sec=3,
                   rate_per_min=10, rate_per_day=20, price_band_pct=5.0, stale_tick_ms=5000,
                   daily_loss_limit_inr=1000.0)


def check(limits=LIMITS, *, freeze=0, lot=1, circuit=(0.0, 0.0), ltp=100.0, last_ts=NOW, **fields):
    req = np.zeros(1, CHECK_DTYPE)
    base = dict(side=1, qty=10, is_limit=0, instrument=0, trading_state=TradingState.ACTIVE,
                phase=PHASE_OPEN, clock_ns=NOW, n_slices=1)
    base.update(fields)
    for name, value in base.items():
        req[0][name] = value
    return int(check_entry(limits.params, req, np.array([0.05]), np.array([lot], np.int64),
                           np.array([freeze], np.int64), np.array([circuit[0]]),
                           np.array([circuit[1]]), np.array([ltp]), np.array([last_ts], np.int64)))


def code(name):
    return CODES[name]


def test_risk_baseline_market_entry_is_approved():
    assert check() == 0


def test_risk_duplicate_intent_is_denied():
    assert check(duplicate=1) == code("DUPLICATE_INTENT")


@pytest.mark.parametrize("fields", [dict(side=0), dict(qty=0), dict(qty=-5), dict(is_limit=-1),
                                    dict(is_limit=1, limit_price=0.0)])
def test_risk_malformed_order_is_denied(fields):
    assert check(**fields) == code("BAD_ORDER")


def test_risk_unknown_instrument_is_denied():
    assert check(instrument=7) == code("UNKNOWN_INSTRUMENT")


def test_risk_halted_and_reducing_deny_entries():
    assert check(trading_state=TradingState.HALTED) == code("HALTED")
    assert check(trading_state=TradingState.REDUCING) == code("REDUCING_ONLY")


def test_risk_daily_loss_limit_denies_entries_and_allows_above_it():
    assert check(day_pnl_inr=-1000.0) == code("DAILY_LOSS_LIMIT")
    assert check(day_pnl_inr=-999.0) == 0


@pytest.mark.parametrize("phase,expected", [(PHASE_PRE_OPEN, "OUTSIDE_SESSION"),
                                            (PHASE_CLOSED, "OUTSIDE_SESSION"),
                                            (PHASE_NO_ENTRY, "AFTER_ENTRY_CUTOFF"),
                                            (PHASE_SQUARE_OFF, "AFTER_ENTRY_CUTOFF")])
def test_risk_session_phases_deny_entries(phase, expected):
    assert check(phase=phase) == code(expected)


def test_risk_stale_or_missing_tick_denies_entries():
    assert check(last_ts=NOW - 5_000_000_001) == code("STALE_DATA")
    assert check(last_ts=NOW - 5_000_000_000) == 0
    assert check(last_ts=0) == code("STALE_DATA")
    assert check(ltp=0.0) == code("STALE_DATA")


def test_risk_quantity_not_a_lot_multiple_is_denied():
    assert check(lot=25, qty=30) == code("QTY_NOT_LOT_MULTIPLE")
    assert check(lot=25, qty=50) == 0


def test_risk_quantity_above_max_is_denied():
    assert check(qty=101) == code("QTY_ABOVE_MAX")
    assert check(qty=100) == 0


def test_risk_above_freeze_is_denied_with_deny_and_sliced_with_slice():
    deny = limits_of(freeze_action="deny")
    assert check(deny, freeze=40, qty=50) == code("ABOVE_FREEZE_QTY")
    assert check(LIMITS, freeze=40, qty=50, n_slices=2) == 0


def test_risk_limit_price_off_tick_is_denied():
    assert check(is_limit=1, limit_price=100.03) == code("PRICE_NOT_TICK_MULTIPLE")
    assert check(is_limit=1, limit_price=100.05) == 0


def test_risk_limit_price_off_band_is_denied():
    assert check(is_limit=1, limit_price=105.05) == code("PRICE_OFF_BAND")
    assert check(is_limit=1, limit_price=94.95) == code("PRICE_OFF_BAND")
    assert check(is_limit=1, limit_price=105.0) == 0


def test_risk_limit_price_outside_known_circuit_is_denied_and_unknown_circuit_skipped():
    assert check(is_limit=1, limit_price=103.0, circuit=(95.0, 102.0)) == \
        code("PRICE_OUTSIDE_CIRCUIT")
    assert check(is_limit=1, limit_price=101.0, circuit=(95.0, 102.0)) == 0
    assert check(is_limit=1, limit_price=103.0) == 0


@pytest.mark.parametrize("fields", [dict(stop_loss=100.5), dict(target=99.0),
                                    dict(side=-1, stop_loss=99.0), dict(side=-1, target=101.0)])
def test_risk_bracket_legs_on_the_wrong_side_are_denied(fields):
    assert check(**fields) == code("BAD_BRACKET")


def test_risk_bracket_legs_are_judged_against_the_limit_price_of_a_limit_entry():
    assert check(is_limit=1, limit_price=98.0, stop_loss=97.0, target=99.5) == 0


def test_risk_notional_above_max_is_denied():
    assert check(qty=100, ltp=500.05) == code("NOTIONAL_ABOVE_MAX")
    assert check(qty=100, ltp=500.0) == 0


def test_risk_position_limit_counts_position_and_working_entries():
    assert check(qty=60, pos_qty=100) == code("POSITION_LIMIT")
    assert check(qty=30, pos_qty=100, pending_buy=30) == code("POSITION_LIMIT")
    assert check(qty=30, pos_qty=100, pending_sell=30) == 0
    assert check(side=-1, qty=60, pos_qty=-100) == code("POSITION_LIMIT")


def test_risk_gross_exposure_is_denied_above_max():
    assert check(gross_exposure_inr=95_000.0, qty=60) == code("GROSS_EXPOSURE")
    assert check(gross_exposure_inr=90_000.0, pending_gross_inr=5_000.0, qty=60) == \
        code("GROSS_EXPOSURE")
    assert check(gross_exposure_inr=90_000.0, qty=60) == 0


def test_risk_max_open_orders_counts_the_new_slices():
    assert check(open_orders=5) == code("MAX_OPEN_ORDERS")
    assert check(open_orders=3, n_slices=3, freeze=40, qty=100) == code("MAX_OPEN_ORDERS")
    assert check(open_orders=4) == 0


@pytest.mark.parametrize("fields,expected", [(dict(rate_sec=3), "RATE_PER_SEC"),
                                             (dict(rate_min=10), "RATE_PER_MIN"),
                                             (dict(rate_day=20), "RATE_PER_DAY")])
def test_risk_rate_limits_deny_when_a_window_is_full(fields, expected):
    assert check(**fields) == code(expected)
    assert check(**{k: v - 1 for k, v in fields.items()}) == 0


def test_risk_tick_rounding_for_our_own_prices():
    assert round_to_tick(99.03, 0.05) == pytest.approx(99.05)
    assert not off_tick(round_to_tick(1234.567, 0.1), 0.1)
    assert off_tick(100.03, 0.05) and not off_tick(0.3, 0.1)


def test_risk_describe_names_the_reason_and_the_numbers():
    text = describe(code("STALE_DATA"), ltp=100.0)
    assert text.startswith("STALE_DATA") and "ltp=100.0" in text


def test_limits_phases_follow_the_ist_session_boundaries():
    limits = limits_of()
    assert limits.phase(ist_ns(9, 14, 59)) == PHASE_PRE_OPEN
    assert limits.phase(ist_ns(9, 15)) == PHASE_OPEN
    assert limits.phase(ist_ns(15, 0)) == PHASE_NO_ENTRY
    assert limits.phase(ist_ns(15, 10)) == PHASE_SQUARE_OFF
    assert limits.phase(ist_ns(15, 30)) == PHASE_CLOSED
    assert limits.next_boundary_ns(ist_ns(15, 5)) == ist_ns(15, 10)
    assert limits_of(enforce_session=False).phase(ist_ns(3, 0)) == PHASE_OPEN


def test_risk_an_intent_older_than_max_intent_age_when_judged_is_expired_not_sent():
    limits = limits_of(enforce_session=False, max_intent_age_ms=2000)
    fresh = check(limits, clock_ns=NOW, intent_ts_ns=NOW - 1_999_000_000)
    stale = check(limits, clock_ns=NOW, intent_ts_ns=NOW - 2_001_000_000)
    assert fresh == CODES["APPROVED"] and stale == CODES["INTENT_EXPIRED"]
    assert check(limits, clock_ns=NOW, intent_ts_ns=0) == CODES["APPROVED"]   # age unknown
