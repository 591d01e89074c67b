"""The day's bill with the statutory rounding, against hand-computed figures.

No broker calculator figure could be read (see tests/orders/test_fees.py, read 2026-12-07): the
expected numbers are computed by hand from the published rates, line by line in the comments. The
rounding rule (STT to the nearest rupee, 50 paise up) is support.zerodha.com's "How is the
Securities Transaction Tax (STT) calculated?"; Zerodha's calculator shows STT in whole rupees too
(tradingqna.com/t/stt-zerodha-brokerage-calculator/21903: 2.525 shown as 3.00).
"""

import pytest

from orders.contractnote import BilledFill, day_bill, round_to
from orders.fees import FeeSchedule

ZERODHA = FeeSchedule("zerodha")


def test_day_bill_when_intraday_round_trip_then_stt_rounded_to_the_rupee_and_lines_to_the_paisa():
    fills = [BilledFill("A", 0, +1, 100, 1000.0), BilledFill("B", 0, -1, 100, 1010.0)]
    bill = day_bill(ZERODHA, fills)
    # brokerage 20 + 20; STT 25.25 -> 25; exchange 2.97 + 2.9997 = 5.9697 -> 5.97; IPFT 0.201 ->
    # 0.20; SEBI 0.201 -> 0.20; stamp 3.00; GST 18 % of 46.3717 = 8.346906 -> 8.35. Total 82.72.
    assert (
        bill.brokerage,
        bill.stt,
        bill.exchange,
        bill.ipft,
        bill.sebi,
        bill.stamp,
        bill.gst,
    ) == pytest.approx((40.0, 25.0, 5.97, 0.20, 0.20, 3.00, 8.35), abs=1e-9)
    assert bill.total == pytest.approx(82.72, abs=1e-9)
    exact = sum(ZERODHA.fill_charges(f.side, f.qty, f.price) for f in fills)
    assert abs(exact - bill.total) < 0.5          # per fill exact: within 50 paise a scrip-day


def test_day_bill_when_stt_has_fifty_paise_then_it_rounds_up():
    # one sell 1 @ 2,000: STT 0.025 % = 0.50 -> 1 (half up, not banker's rounding to 0).
    one = day_bill(ZERODHA, [BilledFill("S", 0, -1, 1, 2000.0)])
    assert one.stt == 1.0
    assert round_to(2.5, "1") == 3.0 and round_to(2.4999, "1") == 2.0


def test_day_bill_when_scrip_sold_in_two_delivery_orders_then_one_dp_charge():
    fills = [BilledFill("A", 0, -1, 10, 100.0, "CNC"), BilledFill("B", 0, -1, 10, 100.0, "CNC")]
    bill = day_bill(ZERODHA, fills)
    # turnover 2,000: brokerage 0; STT 0.1 % = 2; exchange 0.0594 -> 0.06; IPFT 0.002 -> 0.00;
    # SEBI 0.002 -> 0.00; DP 13 once; GST 18 % of 13.0634 = 2.351412 -> 2.35. Total 17.41.
    assert (bill.dp, bill.gst, bill.total) == pytest.approx((13.0, 2.35, 17.41), abs=1e-9)


def test_day_bill_when_two_scrips_then_rounded_per_scrip():
    fees = FeeSchedule("zerodha")
    # STT 0.025 % on each sell of 1,800 = 0.45: per scrip 0.45 -> 0 twice, not 0.90 -> 1 once.
    fills = [BilledFill("A", 0, -1, 18, 100.0), BilledFill("B", 1, -1, 18, 100.0)]
    assert day_bill(fees, fills).stt == 0.0
