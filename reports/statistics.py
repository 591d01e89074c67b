"""Portfolio statistics of a run, in total and per strategy: summary.json's `statistics` and the
report's.

Definitions (README "Portfolio statistics" says the same):
- Net P&L: everything earned after fees and taxes, open positions marked at the last price; gross
  P&L is the same before them. Per strategy, the fills attributed to it (reports/attribution.py);
  the strategies' figures add up to the total.
- A session is an IST date on which the run's journals recorded market time. Daily P&L is the change
  of equity (reports/equity.py) from the previous session's last recorded moment to this one's; the
  daily return is that over `capital_inr` (fixed capital, not compounded; per strategy too, so
  returns add up).
- Sharpe: mean(daily return - rf/252) / its sample standard deviation x sqrt(252). Sortino: the same
  mean over the downside deviation sqrt(mean(min(0, daily return - rf/252)^2)) x sqrt(252). rf is
  `risk_free_rate_pct` a year. Calmar: the annualised return (mean daily return x 252) over the max
  drawdown in percent. All three need two sessions or more; a figure that cannot be computed is
  None, and `undefined` says why (profit factor with no losing trade is infinite: None, "no losing
  trade").
- Max drawdown is on equity at every fill and at every session's end (reports/equity.py).
- A trade is one bracket's round trip (attribution.py): a winner nets > 0, a loser < 0 (a trade that
  nets exactly 0 counts in the win rate's denominator and breaks a losing streak). Profit factor:
  winners' net over losers' |net|. Expectancy: the mean net of a closed trade. Trades still open at
  the end are counted apart and enter P&L only through their marks.
- Exposure time: the share of the sessions' recorded market time with any position open.
- Turnover: the sum of price x qty of every fill, in rupees and in multiples of the capital.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reports.attribution import UNATTRIBUTED, attribute
from reports.equity import Marks, drawdown_figures, equity_at, exposure_share, ist_day

PERIODS_PER_YEAR = 252


@dataclass
class Context:
    marks: Marks
    days: list           # [(IST date text, first ns, last ns)] of the run's sessions, in order
    capital_inr: float
    risk_free_rate_pct: float
    end_ns: int

    @property
    def windows(self) -> list[tuple[int, int]]:
        return [(a, b) for _, a, b in self.days]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def trade_figures(trades: list) -> tuple[dict, dict]:
    """Win rate, profit factor, expectancy, average win and loss, longest losing streak; and why any
    of them is undefined."""
    closed = sorted((t for t in trades if t.closed), key=lambda t: t.closed_ns)
    nets = [t.net_inr for t in closed]
    wins, losses = [n for n in nets if n > 0], [n for n in nets if n < 0]
    streak = longest = 0
    for n in nets:
        streak = streak + 1 if n < 0 else 0
        longest = max(longest, streak)
    undefined = {}
    if not wins:
        undefined["average_win_inr"] = "no winning trade"
    if not losses:
        undefined["average_loss_inr"] = "no losing trade"
        undefined["profit_factor"] = "no losing trade: infinite" if wins else "no losing trade"
    if not closed:
        undefined.update(
            {k: "no closed trade" for k in ("win_rate_pct", "expectancy_inr", "profit_factor")}
        )
    figures = {
        "trades_closed": len(closed),
        "trades_open": sum(1 for t in trades if not t.closed),
        "winners": len(wins),
        "losers": len(losses),
        "win_rate_pct": 100.0 * len(wins) / len(closed) if closed else None,
        "profit_factor": sum(wins) / -sum(losses) if losses else None,
        "expectancy_inr": _mean(nets),
        "average_win_inr": _mean(wins),
        "average_loss_inr": _mean(losses),
        "longest_losing_streak": longest,
    }
    return figures, undefined


def ratio_figures(returns: list[float], max_dd_pct: float, ctx: Context) -> tuple[dict, dict]:
    """Sharpe, Sortino and Calmar from daily returns (fractions of the capital)."""
    names = ("sharpe", "sortino", "calmar", "annualised_return_pct")
    out: dict[str, float | None] = dict.fromkeys(names)
    if len(returns) < 2:
        why = f"{len(returns)} session(s): a daily ratio needs 2 or more"
        return out, {k: why for k in out}
    r = np.asarray(returns)
    excess = r - ctx.risk_free_rate_pct / 100.0 / PERIODS_PER_YEAR
    undefined: dict[str, str] = {}
    annualised = out["annualised_return_pct"] = float(r.mean() * PERIODS_PER_YEAR * 100.0)
    sd = float(excess.std(ddof=1))
    if sd > 0:
        out["sharpe"] = float(excess.mean() / sd * math.sqrt(PERIODS_PER_YEAR))
    else:
        undefined["sharpe"] = "daily returns do not vary"
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside > 0:
        out["sortino"] = float(excess.mean() / downside * math.sqrt(PERIODS_PER_YEAR))
    else:
        undefined["sortino"] = "no session below the risk-free rate"
    if max_dd_pct < 0:
        out["calmar"] = annualised / -max_dd_pct
    else:
        undefined["calmar"] = "no drawdown"
    return out, undefined


def bucket_figures(legs: list, trades: list, ctx: Context) -> tuple[dict, list[float], tuple]:
    """Every figure of one bucket (a strategy, or all of them); its daily P&L, one per session; and
    its equity curve (times, rupees)."""
    start = ctx.days[0][1] if ctx.days else (legs[0].ts_ns if legs else ctx.end_ns)
    day_ends = [b for _, _, b in ctx.days[:-1]] + [ctx.end_ns]
    grid = np.unique(np.array([start, *(leg.ts_ns for leg in legs), *day_ends], np.int64))
    equity = equity_at(legs, ctx.marks, grid)
    closes = equity_at(legs, ctx.marks, np.array(day_ends, np.int64)).tolist() if ctx.days else []
    daily = [c - p for c, p in zip(closes, [0.0] + closes[:-1])]
    fees = sum(leg.fees_inr for leg in legs)
    net = float(equity_at(legs, ctx.marks, np.array([ctx.end_ns]))[0])
    turnover = sum(leg.qty * leg.price for leg in legs)
    dd = drawdown_figures(grid, equity, ctx.capital_inr)
    exposure = exposure_share(legs, ctx.windows, ctx.end_ns)
    figures = {"net_pnl_inr": net, "gross_pnl_inr": net + fees, "fees_and_taxes_inr": fees,
               "return_on_capital_pct": net / ctx.capital_inr * 100.0, **dd,
               "exposure_time_pct": None if exposure is None else exposure * 100.0,
               "turnover_inr": turnover, "turnover_x_capital": turnover / ctx.capital_inr,
               "fills": len(legs), "sessions": len(ctx.days)}
    undefined = {} if exposure is not None else {"exposure_time_pct": "no market time recorded"}
    ratios, why = ratio_figures([d / ctx.capital_inr for d in daily], dd["max_drawdown_pct"], ctx)
    trade_fig, why_trades = trade_figures(trades)
    figures.update(ratios)
    figures.update(trade_fig)
    figures["undefined"] = {**undefined, **why, **why_trades}
    return figures, daily, (grid, equity)


def per_day_rows(
    legs: list, trades: list, ctx: Context, daily: list[float], by_strategy: dict
) -> list[dict]:
    legs_of: dict[str, list] = {}
    for leg in legs:                          # each leg's day once: a year of fills is many legs
        legs_of.setdefault(ist_day(leg.ts_ns), []).append(leg)
    closed_on: dict[str, int] = {}
    for t in trades:
        if t.closed:
            closed_on[ist_day(t.closed_ns)] = closed_on.get(ist_day(t.closed_ns), 0) + 1
    rows, equity = [], 0.0
    for i, (day, _, _) in enumerate(ctx.days):
        mine = legs_of.get(day, [])
        fees = sum(leg.fees_inr for leg in mine)
        equity += daily[i]
        rows.append(
            {
                "date": day,
                "net_pnl_inr": daily[i],
                "gross_pnl_inr": daily[i] + fees,
                "fees_and_taxes_inr": fees,
                "return_pct": daily[i] / ctx.capital_inr * 100.0,
                "equity_inr": equity,
                "fills": len(mine),
                "trades_closed": closed_on.get(day, 0),
                "turnover_inr": sum(leg.qty * leg.price for leg in mine),
                "net_pnl_by_strategy_inr": {s: d[i] for s, d in by_strategy.items()},
            }
        )
    return rows


def run_statistics(fills: list, ctx: Context) -> tuple[dict, tuple]:
    """The `statistics` block (settings, `total`, `strategies`: name -> figures, `daily` rows) and
    the total's equity curve (times, rupees)."""
    attributed = attribute(fills)
    # stable: journal order within an instant
    legs = sorted(attributed.legs, key=lambda leg: leg.ts_ns)
    total, daily, curve = bucket_figures(legs, attributed.trades, ctx)
    strategies, by_strategy = {}, {}
    names = sorted({leg.strategy for leg in legs}, key=lambda s: (s == UNATTRIBUTED, s))
    for name in names:
        strategies[name], by_strategy[name], _ = bucket_figures(
            [leg for leg in legs if leg.strategy == name],
            [t for t in attributed.trades if t.strategy == name],
            ctx,
        )
    return {"capital_inr": ctx.capital_inr, "risk_free_rate_pct": ctx.risk_free_rate_pct,
            "periods_per_year": PERIODS_PER_YEAR, "sessions": [d for d, _, _ in ctx.days],
            "total": total, "strategies": strategies,
            "daily": per_day_rows(legs, attributed.trades, ctx, daily, by_strategy)}, curve


def benchmark(symbol: str, ctx: Context, source: str) -> dict:
    """Buy-and-hold of `symbol` with the whole capital over the run's sessions: bought at its first
    price in the run's market time, valued at its latest price at every session's end and at the end
    (a session that ends before its first price returns 0)."""
    ts, price = ctx.marks.series.get(symbol, (np.zeros(0, np.int64), np.zeros(0)))
    start = ctx.days[0][1] if ctx.days else ctx.end_ns
    inside = (ts >= start) & (ts <= ctx.end_ns) & (price > 0)
    if not inside.any():
        return {"symbol": symbol, "return_pct": None, "pnl_inr": None, "daily_return_pct": {},
                "note": f"no price of {symbol} in the run's market time"}
    first = float(price[inside][0])
    closes = ctx.marks.at(
        symbol, np.array([b for _, _, b in ctx.days[:-1]] + [ctx.end_ns], np.int64)
    )
    # before its first price it is not yet bought
    closes = np.where(closes > 0, closes, first).tolist()
    prev = [first] + closes[:-1]
    daily = {d: (c / p - 1.0) * 100.0 for (d, _, _), c, p in zip(ctx.days, closes, prev)}
    last = closes[-1]
    return {
        "symbol": symbol,
        "start_price": first,
        "end_price": last,
        "return_pct": (last / first - 1.0) * 100.0,
        "pnl_inr": ctx.capital_inr * (last / first - 1.0),
        "daily_return_pct": daily,
        "prices_from": source,
        "curve": (ts[inside], ctx.capital_inr * (price[inside] / first - 1.0)),
    }
