"""The day's bill against figures Zerodha's own brokerage calculator showed, as published.

What could be found (searched 2026-12-07, stored copies of the pages): no complete worked example
(every line and the total) for the rates in force in 2026 from Zerodha, Varsity or Upstox. What was
found are STT figures from Zerodha's calculator quoted on Zerodha's community forum, tradingqna.com,
where the answer confirms the rule ("STT is rounded off to the nearest rupee"), and Upstox's own
help-centre examples of single lines. The STT rates they rest on (intraday 0.025 % of the sell
side, delivery 0.1 % of each side) are still the rates in config/charges.py, so these figures hold
today. The pages' own dates are not in the stored copies; read 2026-12-07.
"""

import pytest

import numpy as np

from common.dtypes import INSTRUMENT_DTYPE
from orders.contractnote import BilledFill, day_bill
from orders.fees import FeeSchedule

ZERODHA = FeeSchedule("zerodha")


@pytest.mark.parametrize("buy, sell, qty, published_stt, source", [
    # https://tradingqna.com/t/stt-zerodha-brokerage-calculator/21903 (read 2026-12-07): buy 100,
    # sell 101, qty 100, intraday: 0.025 % of 10,100 = 2.525; the calculator shows 3.00.
    (100.0, 101.0, 100, 3.0, "tradingqna 21903"),
    # https://tradingqna.com/t/stt-tax-in-zerodha-brokerage-calculator/88483 (read 2026-12-07):
    # buy 103.30, sell 103.55, qty 20: 0.025 % of 2,071 = 0.51775 ("0.52"); the calculator shows 1.
    (103.30, 103.55, 20, 1.0, "tradingqna 88483"),
])
def test_day_bill_when_intraday_round_trip_then_stt_is_what_zerodhas_calculator_showed(
        buy, sell, qty, published_stt, source):
    bill = day_bill(ZERODHA, [BilledFill("B", 0, +1, qty, buy), BilledFill("S", 0, -1, qty, sell)])
    assert bill.stt == published_stt, source


def test_day_bill_when_upstox_delivery_of_one_lakh_then_stt_is_upstoxs_published_100():
    # https://help.upstox.com/support/solutions/articles/250959-what-are-the-different-charges-applied-while-exiting-a-position-
    # (read 2026-12-07): "if you buy or sell securities worth Rs 1 lakh, you will be charged Rs 100
    # as STT" (delivery). Its GST example (18 % of a Rs 20 brokerage = Rs 3.6) leaves out the
    # exchange and SEBI charges that its own article 257195 puts under GST, so it is not a bill
    # line.
    table = np.zeros(1, dtype=INSTRUMENT_DTYPE)
    table[0]["exchange"], table[0]["symbol"] = b"NSE", b"RELIANCE"
    upstox = FeeSchedule("upstox", table)
    for side in (+1, -1):
        bill = day_bill(upstox, [BilledFill("D", 0, side, 1000, 100.0, "CNC")])
        assert bill.stt == 100.0
