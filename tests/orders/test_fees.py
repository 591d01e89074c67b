import pytest

from orders.fees import FeeSchedule

FEES = FeeSchedule()


def test_fees_buy_of_one_lakh_pays_capped_brokerage_exchange_sebi_gst_and_stamp():
    # turnover 1,00,000: brokerage min(20, 30) = 20; exchange 2.97; SEBI 0.10;
    # GST 18% of 23.07 = 4.1526; stamp 3.00; no STT on a buy.
    assert FEES.fill_charges(+1, 100, 1000.0) == pytest.approx(30.2226, abs=1e-9)


def test_fees_sell_pays_stt_and_no_stamp():
    # turnover 1,01,000: brokerage 20; STT 25.25; exchange 2.9997; SEBI 0.101;
    # GST 18% of 23.1007 = 4.158126.
    assert FEES.fill_charges(-1, 100, 1010.0) == pytest.approx(52.508826, abs=1e-9)


def test_fees_small_order_pays_percentage_brokerage_below_the_cap():
    # turnover 1,000: brokerage 0.30; exchange 0.0297; SEBI 0.001; GST 0.059526; stamp 0.03.
    assert FEES.fill_charges(+1, 10, 100.0) == pytest.approx(0.420226, abs=1e-9)


def test_fees_partial_fills_pay_brokerage_capped_per_order_not_per_fill():
    first = FEES.fill_charges(+1, 50, 1000.0)
    second = FEES.fill_charges(+1, 50, 1000.0, prior_turnover_inr=50_000.0)
    assert first + second == pytest.approx(FEES.fill_charges(+1, 100, 1000.0), abs=1e-9)
    assert FEES.brokerage(50_000.0) == pytest.approx(15.0)


def test_fees_come_from_config_section():
    class Paper:
        brokerage_per_order_inr, brokerage_pct, stt_sell_pct = 0.0, 0.0, 0.0
        exchange_txn_pct, gst_pct, sebi_per_crore_inr, stamp_buy_pct = 0.0, 0.0, 0.0, 0.0
    assert FeeSchedule.from_config(Paper()).fill_charges(-1, 10, 100.0) == 0.0
