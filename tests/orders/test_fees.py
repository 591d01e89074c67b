"""Worked examples per preset, segment and product.

Where the figures come from (read 2026-12-07): the brokers' calculators
(zerodha.com/brokerage-calculator, upstox.com/calculator/brokerage-calculator) compute in the
browser and the stored copies show only zeros, so NO calculator figure could be read. Every expected
number below is COMPUTED BY HAND from the published rates listed in config/charges.py (Zerodha's
charges table, Upstox's help centre, NSE circular FA73061), shown line by line in the comments; none
is produced by the code under test.
"""

import numpy as np
import pytest

from common.dtypes import INSTRUMENT_DTYPE
from orders.fees import FeeSchedule

ZERODHA = FeeSchedule("zerodha")       # zerodha, every instrument NSE cash


def rows(*pairs):
    """INSTRUMENT_DTYPE rows from (exchange, symbol) pairs."""
    out = np.zeros(len(pairs), dtype=INSTRUMENT_DTYPE)
    for i, (exchange, symbol) in enumerate(pairs):
        out[i]["exchange"], out[i]["symbol"] = exchange.encode(), symbol.encode()
    return out


TABLE = rows(("NSE", "RELIANCE"), ("BSE", "RELIANCE"), ("NFO", "NIFTY26DECFUT"),
             ("NFO", "NIFTY26DEC24000CE"), ("BFO", "SENSEX26DEC80000PE"))
NSE_EQ, BSE_EQ, NIFTY_FUT, NIFTY_CE, SENSEX_PE = range(5)


def test_fees_when_intraday_buy_of_one_lakh_then_capped_brokerage_exchange_ipft_sebi_gst_and_stamp():  # noqa: E501 - the name is the test's sentence
    # turnover 1,00,000: brokerage min(20, 30) = 20; exchange 0.00297 % = 2.97; IPFT 10/crore =
    # 0.10; SEBI 10/crore = 0.10; GST 18 % of 23.17 = 4.1706; stamp 0.003 % = 3.00; no STT on an MIS
    # buy.
    assert ZERODHA.fill_charges(+1, 100, 1000.0) == pytest.approx(30.3406, abs=1e-9)


def test_fees_when_intraday_sell_then_stt_and_no_stamp():
    # turnover 1,01,000: brokerage 20; STT 0.025 % = 25.25; exchange 2.9997; IPFT 0.101; SEBI 0.101;
    # GST 18 % of 23.2017 = 4.176306.
    assert ZERODHA.fill_charges(-1, 100, 1010.0) == pytest.approx(52.628006, abs=1e-9)


def test_fees_when_small_intraday_order_then_percentage_brokerage_below_the_cap():
    # turnover 1,000: brokerage 0.03 % = 0.30; exchange 0.0297; IPFT 0.001; SEBI 0.001;
    # GST 18 % of 0.3317 = 0.059706; stamp 0.03.
    assert ZERODHA.fill_charges(+1, 10, 100.0) == pytest.approx(0.421406, abs=1e-9)


def test_fees_when_order_fills_in_parts_then_brokerage_capped_per_order_not_per_fill():
    first = ZERODHA.fill_charges(+1, 50, 1000.0)
    second = ZERODHA.fill_charges(+1, 50, 1000.0, prior_turnover_inr=50_000.0)
    assert first + second == pytest.approx(ZERODHA.fill_charges(+1, 100, 1000.0), abs=1e-9)
    assert ZERODHA.breakdown(+1, 50, 1000.0).brokerage == pytest.approx(15.0)
    assert ZERODHA.breakdown(+1, 50, 1000.0, 50_000.0).brokerage == pytest.approx(5.0)


def test_fees_when_zerodha_delivery_then_no_brokerage_stt_both_sides_and_dp_on_the_sell():
    fees = FeeSchedule("zerodha", TABLE)
    # buy 50 @ 2,000 = 1,00,000: brokerage 0; STT 0.1 % = 100; exchange 2.97; IPFT 0.10; SEBI 0.10;
    # stamp 0.015 % = 15; GST 18 % of 3.17 = 0.5706.
    assert fees.fill_charges(+1, 50, 2000.0, 0.0, NSE_EQ, "CNC") == pytest.approx(
        118.7406, abs=1e-9
    )
    # sell 50 @ 2,040 = 1,02,000: STT 102; exchange 3.0294; IPFT 0.102; SEBI 0.102; DP 13;
    # GST 18 % of 16.2334 = 2.922012.
    assert fees.fill_charges(-1, 50, 2040.0, 0.0, NSE_EQ, "CNC") == pytest.approx(
        121.155412, abs=1e-9
    )
    # the same sell order's second fill pays no second DP charge
    assert fees.breakdown(-1, 50, 2040.0, 102_000.0, NSE_EQ, "CNC").dp == 0.0


def test_fees_when_nifty_future_then_futures_stt_exchange_and_stamp_from_april_2026():
    fees = FeeSchedule("zerodha", TABLE)
    # buy 65 @ 24,000 = 15,60,000: brokerage min(20, 468) = 20; exchange 0.00173 % = 26.988;
    # IPFT 1.56; SEBI 1.56; stamp 0.002 % = 31.20; GST 18 % of 50.108 = 9.01944.
    assert fees.fill_charges(+1, 65, 24000.0, 0.0, NIFTY_FUT, "NRML") == pytest.approx(
        90.32744, abs=1e-9
    )
    # sell 65 @ 24,100 = 15,66,500: STT 0.05 % = 783.25; exchange 27.100445; IPFT 1.5665; SEBI
    # 1.5665; GST 18 % of 50.233445 = 9.042020; brokerage 20.
    assert fees.fill_charges(-1, 65, 24100.0, 0.0, NIFTY_FUT, "MIS") == pytest.approx(
        842.525471, abs=1e-6
    )


def test_fees_when_nifty_option_then_flat_brokerage_and_charges_on_premium():
    fees = FeeSchedule("zerodha", TABLE)
    # buy 65 @ 120 = 7,800 premium: flat 20; exchange 0.03503 % = 2.73234; IPFT 50/crore = 0.039;
    # SEBI 0.0078; stamp 0.003 % = 0.234; GST 18 % of 22.77914 = 4.1002452.
    assert fees.fill_charges(+1, 65, 120.0, 0.0, NIFTY_CE) == pytest.approx(27.1133852, abs=1e-9)
    # sell 65 @ 150 = 9,750: STT 0.15 % = 14.625; exchange 3.415425; IPFT 0.04875; SEBI 0.00975;
    # GST 18 % of 23.473925 = 4.2253065; flat 20.
    assert fees.fill_charges(-1, 65, 150.0, 0.0, NIFTY_CE) == pytest.approx(42.3242315, abs=1e-9)


def test_fees_when_bse_then_bse_transaction_charges_and_no_ipft():
    fees = FeeSchedule("zerodha", TABLE)
    # BSE cash buy 1,00,000: exchange 0.00375 % = 3.75; no IPFT; SEBI 0.10; stamp 3; brokerage 20;
    # GST 18 % of 23.85 = 4.293.
    assert fees.fill_charges(+1, 100, 1000.0, 0.0, BSE_EQ) == pytest.approx(31.143, abs=1e-9)
    # BFO option sell 20 @ 300 = 6,000: STT 9; exchange 0.0325 % = 1.95; SEBI 0.006; flat 20;
    # GST 18 % of 21.956 = 3.95208.
    assert fees.fill_charges(-1, 20, 300.0, 0.0, SENSEX_PE) == pytest.approx(34.90808, abs=1e-9)


def test_fees_when_upstox_preset_then_its_own_brokerage_and_dp():
    fees = FeeSchedule("upstox", TABLE)
    # intraday buy 100 @ 300 = 30,000: brokerage min(20, 0.05 % = 15) = 15; exchange 0.891; IPFT
    # 0.03; SEBI 0.03; stamp 0.90; GST 18 % of 15.951 = 2.87118.
    assert fees.fill_charges(+1, 100, 300.0, 0.0, NSE_EQ, "I") == pytest.approx(19.72218, abs=1e-9)
    # delivery buy 10 @ 50 = 500: brokerage min(20, 2.5 % = 12.5); STT 0.50; exchange 0.01485;
    # IPFT 0.0005; SEBI 0.0005; stamp 0.075; GST 18 % of 12.51585 = 2.252853.
    assert fees.fill_charges(+1, 10, 50.0, 0.0, NSE_EQ, "D") == pytest.approx(15.343703, abs=1e-9)
    # delivery sell 10 @ 55 = 550: brokerage 13.75; STT 0.55; exchange 0.016335; IPFT 0.00055;
    # SEBI 0.00055; DP 18.5; GST 18 % of 32.267435 = 5.8081383.
    assert fees.fill_charges(-1, 10, 55.0, 0.0, NSE_EQ, "CNC") == pytest.approx(
        38.6255733, abs=1e-9
    )


def test_fees_when_derivative_symbol_names_no_type_then_refused_with_the_reason():
    with pytest.raises(ValueError, match="cannot tell a future from an option"):
        FeeSchedule("zerodha", rows(("NFO", "NIFTY")))
    with pytest.raises(ValueError, match="MCX are not modelled"):
        FeeSchedule("zerodha", rows(("MCX", "GOLD26DECFUT")))


def test_fees_when_override_given_then_it_replaces_only_that_figure():
    fees = FeeSchedule(
        "zerodha", None, {"EQ_INTRADAY": {"brokerage_pct": 0.0, "brokerage_per_order_inr": 0.0}}
    )
    # 30.3406 without its brokerage 20 and the 3.60 GST on it
    assert fees.fill_charges(+1, 100, 1000.0) == pytest.approx(30.3406 - 23.6, abs=1e-9)
    with pytest.raises(ValueError, match="overrides.EQ_INTRADAY.brokerage: unknown field"):
        FeeSchedule("zerodha", None, {"EQ_INTRADAY": {"brokerage": 1.0}})
