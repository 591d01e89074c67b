"""Statistics at their edges: no trades, only winners, one session, flat equity; each undefined
figure is None with its reason, and the page says so instead of printing a number."""

import math

import pytest

from reports.statistics_section import cell, figures_table
from reports.statistics import run_statistics
from tests.reports.test_statistics import DAYS, at, ctx, fill


def test_no_fills_when_the_run_never_traded_then_figures_are_zero_and_trade_ratios_undefined():
    block, _ = run_statistics([], ctx(fills=[], final={}))
    total = block["total"]
    assert (
        total["net_pnl_inr"],
        total["fees_and_taxes_inr"],
        total["turnover_inr"],
        total["fills"],
    ) == (0, 0, 0, 0)
    assert total["exposure_time_pct"] == 0.0 and total["max_drawdown_inr"] == 0.0
    assert total["win_rate_pct"] is None and total["undefined"]["win_rate_pct"] == "no closed trade"
    assert (
        total["profit_factor"] is None and total["undefined"]["profit_factor"] == "no closed trade"
    )
    assert total["sharpe"] is None and total["undefined"]["sharpe"] == "daily returns do not vary"
    assert block["strategies"] == {} and [d["net_pnl_inr"] for d in block["daily"]] == [
        0.0,
        0.0,
        0.0,
    ]


def test_only_winning_trades_when_profit_factor_is_infinite_then_none_and_the_page_shows_infinity():
    fills = [fill(1, at(0, "10:00"), "SBIN", +1, 1, 100.0, 0.0, "fast", "a"),
             fill(2, at(0, "10:10"), "SBIN", -1, 1, 103.0, 0.0, "fast", "a"),
             fill(3, at(1, "10:00"), "SBIN", +1, 1, 100.0, 0.0, "fast", "b"),
             fill(4, at(1, "10:10"), "SBIN", -1, 1, 101.0, 0.0, "fast", "b")]
    block, _ = run_statistics(fills, ctx(fills=fills, days=DAYS[:2], final={}))
    total = block["total"]
    assert (
        total["profit_factor"] is None
        and total["undefined"]["profit_factor"] == "no losing trade: infinite"
    )
    assert total["win_rate_pct"] == 100.0 and total["longest_losing_streak"] == 0
    assert (
        total["sortino"] is None
        and total["undefined"]["sortino"] == "no session below the risk-free rate"
    )
    assert total["calmar"] is None and total["undefined"]["calmar"] == "no drawdown"
    # daily returns 3 and 1 per 10,000: mean 2, sample sd sqrt(2), per 10,000
    assert total["sharpe"] == pytest.approx((3 + 1) / 2 / math.sqrt(2) * math.sqrt(252))
    assert cell(total, "profit_factor", "ratio").startswith("∞")
    assert "no losing trade: infinite" in figures_table(block)
    assert '"Infinity"' not in str(block) and not any(
        isinstance(v, float) and math.isinf(v) for v in total.values()
    )


def test_one_session_only_when_ratios_need_two_then_sharpe_sortino_calmar_are_none_with_the_reason():  # noqa: E501 - the name is the test's sentence
    fills = [fill(1, at(0, "10:00"), "SBIN", +1, 1, 100.0, 0.0, "fast", "a"),
             fill(2, at(0, "10:10"), "SBIN", -1, 1, 90.0, 0.0, "fast", "a")]
    block, _ = run_statistics(fills, ctx(fills=fills, days=DAYS[:1], final={}))
    total = block["total"]
    for key in ("sharpe", "sortino", "calmar", "annualised_return_pct"):
        assert (
            total[key] is None
            and total["undefined"][key] == "1 session(s): a daily ratio needs 2 or more"
        )
    assert (
        total["net_pnl_inr"] == -10.0
        and total["max_drawdown_inr"] == -10.0
        and total["profit_factor"] == 0.0
    )
    assert (
        cell(total, "sharpe", "ratio")
        == '—<br><small class="none">1 session(s): a daily ratio needs 2 or more</small>'
    )


def test_flat_equity_when_trades_earn_nothing_then_no_drawdown_and_sharpe_undefined():
    fills = [fill(1, at(0, "10:00"), "SBIN", +1, 5, 100.0, 0.0, "fast", "a"),
             fill(2, at(0, "10:10"), "SBIN", -1, 5, 100.0, 0.0, "fast", "a"),
             fill(3, at(1, "10:00"), "SBIN", -1, 5, 100.0, 0.0, "fast", "b"),
             fill(4, at(1, "10:10"), "SBIN", +1, 5, 100.0, 0.0, "fast", "b")]
    block, _ = run_statistics(fills, ctx(fills=fills, days=DAYS[:2], final={}))
    total = block["total"]
    assert (total["net_pnl_inr"], total["max_drawdown_inr"], total["max_drawdown_duration_s"]) == (
        0.0,
        0.0,
        0.0,
    )
    assert total["sharpe"] is None and total["undefined"]["sharpe"] == "daily returns do not vary"
    assert (
        total["win_rate_pct"] == 0.0
        and total["winners"] == total["losers"] == 0
        and total["trades_closed"] == 2
    )
    assert total["exposure_time_pct"] == pytest.approx(20 / 750 * 100)
