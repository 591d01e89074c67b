"""The run report's portfolio statistics: computed from a run directory's files, shown as HTML, and
merged into summary.json as its `statistics` block.

The block is written by the report rather than by the supervisor's summary writer because it replays
the fills through the positions stage's code, which `common/` may not import; the supervisor renders
the report straight after writing summary.json, and `python -m reports.report RUN_DIR` writes it
again for any run. A run without summary.json (killed) gets the figures in report.html only.
"""

from __future__ import annotations

import os

import msgspec
import orjson

from common import rundir
from common.atomicfile import write_atomic
from config.schema import ReportConfig
from reports import page
from reports.equity import build_marks, ist_day
from reports.price_paths import price_paths
from reports.statistics import Context, benchmark, run_statistics

ROWS = (  # (key, label, kind)
    ("net_pnl_inr", "Net P&L", "money"),
    ("gross_pnl_inr", "Gross P&L (before fees and taxes)", "money"),
    ("fees_and_taxes_inr", "Fees and taxes paid", "inr"),
    ("return_on_capital_pct", "Return on capital", "pct"),
    ("annualised_return_pct", "Annualised return (×252)", "pct"),
    ("sharpe", "Sharpe (daily, ×√252)", "ratio"),
    ("sortino", "Sortino (daily, ×√252)", "ratio"),
    ("calmar", "Calmar", "ratio"),
    ("max_drawdown_inr", "Max drawdown", "money"),
    ("max_drawdown_pct", "Max drawdown, % of capital + peak", "pct"),
    ("max_drawdown_duration_s", "Longest time under water", "duration"),
    ("trades_closed", "Trades closed", "int"),
    ("trades_open", "Trades open at the end", "int"),
    ("win_rate_pct", "Win rate", "pct"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy_inr", "Expectancy (per trade)", "money"),
    ("average_win_inr", "Average win", "money"),
    ("average_loss_inr", "Average loss", "money"),
    ("longest_losing_streak", "Longest losing streak", "int"),
    ("exposure_time_pct", "Exposure time", "pct"),
    ("turnover_inr", "Turnover", "inr"),
    ("turnover_x_capital", "Turnover ÷ capital", "ratio"),
    ("fills", "Fills (shares of a close counted apart)", "int"),
)


def settings(config: dict) -> tuple[ReportConfig, str]:
    """positions.report from config.effective.json (defaults where the run's config predates it)."""
    raw = (config.get("positions") or {}).get("report") or {}
    try:
        return msgspec.convert(raw, ReportConfig), ""
    except msgspec.ValidationError as e:
        return (
            ReportConfig(),
            f"positions.report in config.effective.json is not valid ({e}): defaults used",
        )


def statistics_of(inputs) -> tuple[dict, tuple, dict]:
    """The statistics block, the total's equity curve and the benchmark (with its price curve)."""
    cfg, note = settings(inputs.config)
    symbols = inputs.symbols
    bench_symbol = cfg.benchmark_symbol or (symbols[0] if symbols else "")
    traded = sorted({f.symbol for f in inputs.fills} | ({bench_symbol} if bench_symbol else set()))
    final = {
        p["symbol"]: float(p.get("last_price") or 0) for p in inputs.positions.get("positions", [])
    }
    paths, source = price_paths(inputs, traded, final)
    end_ns = inputs.last_event_ns
    days = [(ist_day(a), a, b) for _, (a, b) in sorted(inputs.day_windows.items())]
    ctx = Context(
        build_marks(inputs.fills, paths, final, end_ns),
        days,
        cfg.capital_inr,
        cfg.risk_free_rate_pct,
        end_ns,
    )
    block, curve = run_statistics(inputs.fills, ctx)
    bench = (
        benchmark(bench_symbol, ctx, source)
        if bench_symbol
        else {"symbol": "", "note": "no instrument"}
    )
    block["benchmark"] = {k: v for k, v in bench.items() if k != "curve"}
    if note:
        block["note"] = note
    return block, curve, bench


def merge_into_summary(run_dir: str, block: dict) -> bool:
    """Put `block` under summary.json's `statistics`; False when the run left no summary.json."""
    path = os.path.join(run_dir, rundir.SUMMARY)
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return False
    if not isinstance(doc, dict):
        return False
    doc["statistics"] = block
    write_atomic(
        path,
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY),
        durable=False,
    )
    return True


def cell(figures: dict, key: str, kind: str) -> str:
    value = figures.get(key)
    if value is None:
        why = figures.get("undefined", {}).get(key, "")
        shown = "∞" if "infinite" in why else "—"
        return f'{shown}<br><small class="none">{page.esc(why)}</small>' if why else shown
    if kind == "money":
        return page.money(value)
    if kind == "inr":
        return page.esc(page.rupees(value))
    if kind == "pct":
        return f"{value:,.2f}%"
    if kind == "ratio":
        return f"{value:,.2f}"
    if kind == "duration":
        return duration_text(value) + (" (still under)" if figures.get("underwater_at_end") else "")
    return f"{value:,}"


def duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


def figures_table(block: dict) -> str:
    columns = [("Total", block["total"])] + list(block["strategies"].items())
    rows = [
        [page.esc(label)] + [cell(figs, key, kind) for _, figs in columns]
        for key, label, kind in ROWS
    ]
    return page.table(
        ["figure"] + [name for name, _ in columns], rows, numeric=set(range(1, len(columns) + 1))
    )


def daily_table(block: dict) -> str:
    strategies = list(block["strategies"])
    bench = block.get("benchmark", {}).get("daily_return_pct", {})
    rows = []
    for d in block["daily"]:
        b = bench.get(d["date"])
        rows.append(
            [
                page.esc(d["date"]),
                page.money(d["net_pnl_inr"]),
                page.money(d["gross_pnl_inr"]),
                page.esc(page.rupees(d["fees_and_taxes_inr"])),
                f"{d['return_pct']:,.3f}%",
                "—" if b is None else f"{b:,.3f}%",
                page.money(d["equity_inr"]),
                f"{d['fills']:,}",
                f"{d['trades_closed']:,}",
                page.esc(page.rupees(d["turnover_inr"])),
            ]
            + [page.money(d["net_pnl_by_strategy_inr"].get(s, 0.0)) for s in strategies]
        )
    headers = [
        "session (IST)",
        "net P&L",
        "gross",
        "fees and taxes",
        "return",
        "benchmark",
        "equity",
        "fills",
        "trades closed",
        "turnover",
    ] + [f"net: {s}" for s in strategies]
    return page.table(headers, rows, numeric=set(range(1, len(headers))))


def benchmark_text(block: dict) -> str:
    b, total = block.get("benchmark", {}), block["total"]
    if b.get("return_pct") is None:
        return f'<p class="none">Benchmark: {page.esc(b.get("note", "none"))}.</p>'
    return (
        f"<p>Benchmark: buy-and-hold of {page.esc(b['symbol'])} with the whole capital, "
        f"{b['start_price']:,.2f} → {b['end_price']:,.2f}: {b['return_pct']:,.2f}% "
        f"({page.money(b['pnl_inr'])}), against the portfolio's "
        f"{total['return_on_capital_pct']:,.2f}% "
        f"({page.money(total['net_pnl_inr'])}). Prices: {page.esc(b.get('prices_from', ''))}.</p>"
    )


def section(block: dict, chart_html: str) -> str:
    head = (
        f'<p class="meta">Capital {page.esc(page.rupees(block["capital_inr"]))} '
        '(positions.report.capital_inr); '
        f'risk-free rate {block["risk_free_rate_pct"]:g}% a year '
        '(positions.report.risk_free_rate_pct), '
        f'{block["periods_per_year"]} sessions a year; {len(block["sessions"])} session(s) in this '
        'run. '
        "A trade is one bracket's round trip; square-off fills are shared among the trades they "
        "close, "
        "pro rata by open quantity. Definitions: reports/statistics.py.</p>"
    )
    note = f'<div class="warn">{page.esc(block["note"])}</div>' if block.get("note") else ""
    return (
        "<h2>Statistics</h2>"
        + head
        + note
        + figures_table(block)
        + benchmark_text(block)
        + chart_html
        + "<h3>P&amp;L per session</h3>"
        + daily_table(block)
    )
