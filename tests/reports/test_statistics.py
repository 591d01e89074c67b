"""Portfolio statistics against figures worked out by hand (in the comments) or by a plain-Python
reference written here, on a hand-built fill set: two strategies, two instruments, three sessions, a
square-off shared between two brackets, and a position left open at the end."""

import math
import statistics as pystats

import numpy as np
import pytest

from common.messages import OrderFilled
from reports.equity import build_marks
from reports.statistics import Context, benchmark, run_statistics

T0 = 1_767_239_100_000_000_000          # 2026-01-01 09:15:00 IST, in epoch ns UTC
MIN = 60 * 1_000_000_000
DAY = 24 * 60 * MIN
SESSION = 375 * MIN                     # 09:15 -> 15:30
CAPITAL = 10_000.0
SYMBOLS = ("SBIN", "INFY")


def at(day: int, hhmm: str) -> int:
    h, m = map(int, hhmm.split(":"))
    return T0 + day * DAY + ((h * 60 + m) - (9 * 60 + 15)) * MIN


def fill(n, when, symbol, side, qty, price, fees, strategy="", bracket="", role="ENTRY"):
    return OrderFilled(
        seq=n,
        ts_event_ns=when,
        client_order_id=f"C{n}",
        broker_order_id=f"B{n}",
        fill_id=f"C{n}.1",
        strategy=strategy,
        bracket_id=bracket,
        role=role,
        instrument=SYMBOLS.index(symbol),
        symbol=symbol,
        side=side,
        qty=qty,
        price=price,
        fees_inr=fees,
        tick_seq=n,
        leaves_qty=0,
    )


# Session 1: fast f1 SBIN +10@100 -> 10@110 (net 100 - 2 = +98); slow s1 SBIN +5@102 -> 5@99 (net
# -15 - 1 = -16). Session 2: fast f2 INFY -4@200, slow s2 INFY -6@201; a SQUAREOFF buys 10@205 (fee
# 2.00) for both, shared
#   4:6 by open quantity: f2 = -20 - 0.4 - 0.8 = -21.2, s2 = -24 - 0.6 - 1.2 = -25.8.
# Session 3: fast f3 SBIN +3@100 -> 3@104 (12 - 0.6 = +11.4); slow s3 SBIN +2@101 open, last price
# 106:
#   unrealised 10 - 0.2 fee = +9.8.
FILLS = [
    fill(1, at(0, "09:20"), "SBIN", +1, 10, 100.0, 1.0, "fast", "f1"),
    fill(2, at(0, "09:30"), "SBIN", +1, 5, 102.0, 0.5, "slow", "s1"),
    fill(3, at(0, "10:00"), "SBIN", -1, 10, 110.0, 1.0, "fast", "f1", "TARGET"),
    fill(4, at(0, "10:30"), "SBIN", -1, 5, 99.0, 0.5, "slow", "s1", "STOP"),
    fill(5, at(1, "11:00"), "INFY", -1, 4, 200.0, 0.4, "fast", "f2"),
    fill(6, at(1, "11:10"), "INFY", -1, 6, 201.0, 0.6, "slow", "s2"),
    fill(7, at(1, "15:10"), "INFY", +1, 10, 205.0, 2.0, role="SQUAREOFF"),
    fill(8, at(2, "10:00"), "SBIN", +1, 3, 100.0, 0.3, "fast", "f3"),
    fill(9, at(2, "10:05"), "SBIN", +1, 2, 101.0, 0.2, "slow", "s3"),
    fill(10, at(2, "10:30"), "SBIN", -1, 3, 104.0, 0.3, "fast", "f3", "TARGET"),
]
DAYS = [
    ("2026-01-01", at(0, "09:15"), at(0, "15:30")),
    ("2026-01-02", at(1, "09:15"), at(1, "15:30")),
    ("2026-01-03", at(2, "09:15"), at(2, "15:30")),
]
END = DAYS[-1][2]


def ctx(fills=FILLS, days=DAYS, rf=0.0, final=None):
    final = {"SBIN": 106.0} if final is None else final
    return Context(build_marks(fills, {}, final, days[-1][2]), days, CAPITAL, rf, days[-1][2])


def sharpe_reference(daily_inr, rf_pct=0.0):
    excess = [d / CAPITAL - rf_pct / 100 / 252 for d in daily_inr]
    return pystats.mean(excess) / pystats.stdev(excess) * math.sqrt(252)


def sortino_reference(daily_inr, rf_pct=0.0):
    excess = [d / CAPITAL - rf_pct / 100 / 252 for d in daily_inr]
    downside = math.sqrt(sum(min(0.0, x) ** 2 for x in excess) / len(excess))
    return pystats.mean(excess) / downside * math.sqrt(252)


def test_statistics_of_a_multi_strategy_run_when_computed_then_match_the_hand_worked_figures():
    block, _ = run_statistics(FILLS, ctx())
    total = block["total"]
    assert total["net_pnl_inr"] == pytest.approx(56.2)              # 82 - 47 + 21.2
    assert total["fees_and_taxes_inr"] == pytest.approx(6.8)
    assert total["gross_pnl_inr"] == pytest.approx(63.0)
    assert total["return_on_capital_pct"] == pytest.approx(0.562)
    assert total["turnover_inr"] == pytest.approx(7975.0) and total[
        "turnover_x_capital"
    ] == pytest.approx(0.7975)
    assert [d["net_pnl_inr"] for d in block["daily"]] == pytest.approx([82.0, -47.0, 21.2])
    assert [d["fees_and_taxes_inr"] for d in block["daily"]] == pytest.approx([3.0, 3.0, 0.8])
    assert [d["equity_inr"] for d in block["daily"]] == pytest.approx([82.0, 35.0, 56.2])
    assert [d["trades_closed"] for d in block["daily"]] == [2, 2, 1]
    assert [d["net_pnl_by_strategy_inr"] for d in block["daily"]] == [
        pytest.approx({"fast": 98.0, "slow": -16.0}), pytest.approx({"fast": -21.2, "slow": -25.8}),
        pytest.approx({"fast": 11.4, "slow": 9.8})]


def test_trade_figures_when_trades_are_bracket_round_trips_then_win_rate_profit_factor_and_streak_follow():  # noqa: E501 - the name is the test's sentence
    block, _ = run_statistics(FILLS, ctx())
    total, fast, slow = block["total"], block["strategies"]["fast"], block["strategies"]["slow"]
    # closed in order: +98, -16, -21.2, -25.8, +11.4; s3 still open
    assert (total["trades_closed"], total["trades_open"], total["winners"], total["losers"]) == (
        5,
        1,
        2,
        3,
    )
    assert total["win_rate_pct"] == pytest.approx(40.0)
    assert total["profit_factor"] == pytest.approx(109.4 / 63.0)
    assert total["expectancy_inr"] == pytest.approx(46.4 / 5)
    assert total["average_win_inr"] == pytest.approx(54.7) and total[
        "average_loss_inr"
    ] == pytest.approx(-21.0)
    assert total["longest_losing_streak"] == 3
    assert fast["win_rate_pct"] == pytest.approx(200 / 3) and fast[
        "profit_factor"
    ] == pytest.approx(109.4 / 21.2)
    assert fast["longest_losing_streak"] == 1 and fast["fees_and_taxes_inr"] == pytest.approx(3.8)
    assert (
        slow["win_rate_pct"] == 0.0
        and slow["profit_factor"] == 0.0
        and slow["longest_losing_streak"] == 2
    )
    assert (
        slow["average_win_inr"] is None
        and slow["undefined"]["average_win_inr"] == "no winning trade"
    )
    assert fast["net_pnl_inr"] + slow["net_pnl_inr"] == pytest.approx(total["net_pnl_inr"])


def test_ratios_when_three_sessions_then_sharpe_sortino_calmar_match_a_plain_python_reference():
    block, _ = run_statistics(FILLS, ctx())
    total = block["total"]
    assert total["sharpe"] == pytest.approx(sharpe_reference([82.0, -47.0, 21.2]))
    assert total["sortino"] == pytest.approx(sortino_reference([82.0, -47.0, 21.2]))
    annual_pct = (82.0 - 47.0 + 21.2) / 3 / CAPITAL * 252 * 100
    assert total["annualised_return_pct"] == pytest.approx(annual_pct)
    # equity, marked at every fill: peak 137.5 after f1's target (s1 still open, marked at 110),
    # then 35 after the square-off and 34.7 after f3's entry paid its 0.30 fee
    assert total["max_drawdown_inr"] == pytest.approx(-102.8)
    assert total["max_drawdown_pct"] == pytest.approx(-102.8 / (CAPITAL + 137.5) * 100)
    assert total["calmar"] == pytest.approx(annual_pct / (102.8 / (CAPITAL + 137.5) * 100))
    assert total["underwater_at_end"] and total["max_drawdown_duration_s"] == pytest.approx(
        (END - at(0, "10:00")) / 1e9
    )
    slow = block["strategies"]["slow"]
    assert slow["sharpe"] == pytest.approx(sharpe_reference([-16.0, -25.8, 9.8]))


def test_ratios_when_a_risk_free_rate_is_set_then_it_is_subtracted_per_session():
    block, _ = run_statistics(FILLS, ctx(rf=6.5))
    assert block["risk_free_rate_pct"] == 6.5 and block["periods_per_year"] == 252
    assert block["total"]["sharpe"] == pytest.approx(sharpe_reference([82.0, -47.0, 21.2], 6.5))
    assert block["total"]["sortino"] == pytest.approx(sortino_reference([82.0, -47.0, 21.2], 6.5))


def test_exposure_time_when_positions_open_then_share_of_the_sessions_market_time():
    block, _ = run_statistics(FILLS, ctx())
    # open: 09:20-10:30, 11:00-15:10, 10:00-15:30 (s3 to the end) = 650 of 3 x 375 minutes
    assert block["total"]["exposure_time_pct"] == pytest.approx(650 / 1125 * 100)
    assert block["strategies"]["fast"]["exposure_time_pct"] == pytest.approx(320 / 1125 * 100)
    assert block["strategies"]["slow"]["exposure_time_pct"] == pytest.approx(625 / 1125 * 100)


def test_benchmark_when_buying_the_first_instrument_and_holding_then_returns_follow_its_prices():
    c = ctx()
    bench = benchmark("SBIN", c, "fills")
    # first SBIN price 100 (09:20 day 1); closes: 99 (s1's stop), 99 (no trade), 106 (the final
    # mark)
    assert bench["start_price"] == 100.0 and bench["end_price"] == 106.0
    assert bench["return_pct"] == pytest.approx(6.0) and bench["pnl_inr"] == pytest.approx(600.0)
    assert list(bench["daily_return_pct"].values()) == pytest.approx(
        [-1.0, 0.0, (106 / 99 - 1) * 100]
    )
    assert benchmark("TCS", c, "fills")["return_pct"] is None


def test_net_pnl_when_compared_with_the_position_book_then_the_two_accountings_agree():
    from reports.performance import replay

    # average cost, the positions stage's own book
    perf = replay(FILLS, list(SYMBOLS), {0: 106.0})
    block, _ = run_statistics(FILLS, ctx())
    assert block["total"]["net_pnl_inr"] == pytest.approx(
        perf.realised_pnl_inr + perf.unrealised_pnl_inr
    )
    assert block["total"]["fees_and_taxes_inr"] == pytest.approx(perf.fees_inr)


def test_a_position_held_overnight_when_ticks_were_recorded_then_each_session_is_marked_at_its_close():  # noqa: E501 - the name is the test's sentence
    from reports.price_paths import PricePath

    held = [fill(1, at(0, "10:00"), "SBIN", +1, 10, 100.0, 0.0, "slow", "h"),
            fill(2, at(1, "10:00"), "SBIN", -1, 10, 103.0, 0.0, "slow", "h", "TARGET")]
    ticks = PricePath(
        "SBIN", np.array([at(0, "15:29"), at(1, "09:15")], np.int64), np.array([105.0, 104.0]), True
    )
    c = Context(
        build_marks(held, {"SBIN": ticks}, {}, DAYS[1][2]), DAYS[:2], CAPITAL, 0.0, DAYS[1][2]
    )
    block, _ = run_statistics(held, c)
    # day 1: bought at 100, closed the session at 105 (+50); day 2: sold at 103 (-20)
    assert [d["net_pnl_inr"] for d in block["daily"]] == pytest.approx([50.0, -20.0])
    assert block["total"]["max_drawdown_inr"] == pytest.approx(-20.0)   # from 50 at the close to 30
