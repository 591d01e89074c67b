"""A run's report, readable at a glance: `<run_dir>/report.html` plus its PNG charts beside it.

    python -m reports.report RUN_DIR        # for any finished (or killed) run directory

The supervisor renders it at the end of every run through `render_after_run`. Everything comes from
the files the run left (inputs.py); P&L is the fills replayed through the positions stage's own
book (performance.py). A run without fills, or without some of its files, still gets a report that
says what is missing; only a run directory that does not exist is an error.
"""

from __future__ import annotations

import argparse
import os
import sys

from common import rundir
from common.atomicfile import read_object

from reports import page
from reports import statistics_section
from reports.performance import last_prices_from, replay
from reports.price_paths import price_paths
from reports.inputs import ENGINE_RECORDS, read_run

REPORT_FILE = rundir.REPORT
CHART_FILES = {
    "equity": "report_equity.png",
    "drawdown": "report_drawdown.png",
    "trades": "report_trades.png",
    "pnl": "report_pnl_by_instrument.png",
    "orders": "report_orders.png",
    "latency": "report_latency.png",
    "benchmark": "report_benchmark.png",
}
TRADED_PANELS = 4          # instruments drawn with their trades: the most-traded ones
ORDER_LABELS = (
    ("SignalRaised", "signals raised"),
    ("OrderSubmitting", "submitted"),
    ("OrderAccepted", "accepted"),
    ("OrderFilled", "filled"),
    ("OrderCanceled", "canceled"),
    ("OrderRejected", "rejected"),
    ("OrderDenied", "denied"),
)


def order_counts(inputs) -> list[tuple[str, int]]:
    """Order events by kind, in the order an order lives them; unknown kinds are shown too."""
    known = dict(ORDER_LABELS)
    counts = [(label, inputs.count(kind)) for kind, label in ORDER_LABELS]
    counts += [(kind, n) for kind, n in sorted(inputs.event_counts.items())
               if kind not in known and kind not in ENGINE_RECORDS]
    return counts


def draw_charts(inputs, perf, run_dir: str, stats=None) -> dict[str, str]:
    """Write the PNGs this run has data for; return chart name -> file name (relative to
    run_dir)."""
    # matplotlib loads here, when a report is drawn, not when the supervisor imports this module.
    from reports import charts

    for name in CHART_FILES.values():       # a re-render must not leave an older run's chart behind
        try:
            os.unlink(os.path.join(run_dir, name))
        except FileNotFoundError:
            pass
    out = lambda name: os.path.join(run_dir, CHART_FILES[name])  # noqa: E731
    drawn = {}
    if perf.fills:
        net = {p.symbol: p.realised_pnl_inr for p in perf.book.positions.values()}
        charts.equity_chart(perf, perf.realised_pnl_inr + perf.unrealised_pnl_inr, out("equity"))
        charts.drawdown_chart(perf, out("drawdown"))
        traded = perf.most_traded(TRADED_PANELS)
        last = {
            p["symbol"]: float(p.get("last_price") or 0)
            for p in inputs.positions.get("positions", [])
        }
        paths, note = price_paths(inputs, traded, last)
        charts.trades_chart(paths, perf.fills, traded, net, note, out("trades"))
        charts.pnl_chart([p.as_dict() for p in perf.book.positions.values()], out("pnl"))
        drawn.update({k: CHART_FILES[k] for k in ("equity", "drawdown", "trades", "pnl")})
        if stats is not None:
            _, curve, bench = stats
            drawn["benchmark"] = os.path.basename(
                charts.benchmark_chart(curve, bench, out("benchmark"))
            )
    counts = order_counts(inputs)
    if any(n for _, n in counts):
        denials = [(f"{key} ({code})", n) for (key, code), n in inputs.denials.most_common()]
        drawn["orders"] = os.path.basename(charts.orders_chart(counts, denials, out("orders")))
    if inputs.latency:
        drawn["latency"] = os.path.basename(charts.latency_chart(inputs.latency, out("latency")))
    return drawn


def _title(inputs) -> tuple[str, str]:
    summary = inputs.summary
    run_id = summary.get("run_id") or os.path.basename(os.path.normpath(inputs.run_dir))
    ended = (f"ended: {summary['reason']} (exit {summary.get('exit_code')}), "
             f"trading {summary.get('trading_state', '?')}"
             if "reason" in summary else "no summary.json: the run did not end cleanly")
    restarts = sum(1 for r in inputs.lifecycle if r.get("kind") == "restart")
    first, last = page.ist_text(inputs.first_event_ns), page.ist_text(inputs.last_event_ns)
    window = f"market time {first} → {last}"
    return run_id, f"{ended} · {window} · {restarts} stage restart(s)"


def _account_day(run_dir: str) -> str:
    """Whose figures these are: a run of a live account trades the account's day (its journals are
    the day's, supervision/accountday.py), so orders, fills and P&L below include every run
    of it."""
    day = read_object(os.path.join(run_dir, rundir.ACCOUNT_INFO))
    if not day.get("day"):
        return ""
    how = "resumed" if day.get("resumed") else "started"
    return (
        f'<div class="warn">Account day {page.esc(day["day"])} of '
        f'{page.esc(day.get("account", "?"))}: this run '
        f"{how} it. Orders, fills, denials and P&amp;L below are the account day's, every run that "
        "traded "
        f"it included (this run's own counts are in summary.json).</div>"
    )


def render_html(inputs, perf, drawn: dict, block: dict | None = None) -> str:
    run_id, meta = _title(inputs)
    trades = (
        page.image(drawn, "equity", "equity curve")
        + page.image(drawn, "drawdown", "drawdown")
        + "<h2>Trades on price (most-traded instruments)</h2>"
        + page.image(drawn, "trades", "trades on price")
        + "<h2>P&amp;L per instrument</h2>"
        + page.image(drawn, "pnl", "P&L per instrument")
        + page.instrument_table(perf)
        + "<h3>Round trips per instrument (flat to flat)</h3>"
        + page.round_trip_table(perf)
    )
    if not perf.fills:
        trades = ('<p class="none">No fills in this run: no equity curve, drawdown, trades or '
                  'P&amp;L to show.</p>')
    parts = [
        f"<h1>OTrade run {page.esc(run_id)}</h1>",
        f'<div class="meta">{page.esc(meta)}</div>',
        _account_day(inputs.run_dir),
        page.headline(inputs, perf, block),
        page.warnings(inputs, perf),
        statistics_section.section(
            block, page.image(drawn, "benchmark", "portfolio against the benchmark")
        )
        if block
        else "",
        "<h2>Equity</h2>",
        trades,
        "<h2>Orders and denials</h2>",
        page.image(drawn, "orders", "order and denial counts"),
        page.denial_table(inputs),
        page.rejection_table(inputs),
        "<h2>Latency</h2>",
        page.image(drawn, "latency", "latency percentiles"),
        page.latency_table(inputs),
        "<h2>Supervisor</h2>",
        page.lifecycle_table(inputs),
    ]
    if perf.fills:
        parts += ["<h2>Fills</h2>", page.fills_table(perf)]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>OTrade run '
        f'{page.esc(run_id)}</title>'
        f"<style>{page.CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_report(run_dir: str) -> str:
    """Render `run_dir`'s report; return the path of report.html.

    Raises
    ------
    FileNotFoundError
        If `run_dir` is not a directory.
    """
    inputs = read_run(run_dir)
    perf = replay(inputs.fills, inputs.symbols, last_prices_from(inputs.positions))
    stats = statistics_section.statistics_of(inputs)
    statistics_section.merge_into_summary(run_dir, stats[0])
    drawn = draw_charts(inputs, perf, run_dir, stats)
    path = os.path.join(run_dir, REPORT_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_html(inputs, perf, drawn, stats[0]))
    os.replace(tmp, path)      # a reader never sees half a page
    return path


def render_after_run(run_dir: str) -> str | None:
    """The supervisor's end-of-run hook: the report, or None (logged) if it could not be drawn.

    The run's results are already on disk when this is called, so a report that fails must not turn
    a clean run into a failed one: every error is logged and swallowed here, and only here.
    """
    from common.log import get_logger

    try:
        path = write_report(run_dir)
    except Exception as e:  # noqa: BLE001 - see the docstring
        get_logger("supervisor").warning(
            "run report not written", run_dir=run_dir, error=f"{type(e).__name__}: {e}"
        )
        return None
    get_logger("supervisor").info("run report written", path=path)
    return path


def report_declined(run_dir: str) -> None:
    """The end-of-run hook when the config says `run.report: false`: say how to draw it later."""
    from common.log import get_logger

    get_logger("supervisor").info(
        "run report not drawn (run.report is false)",
        later=f"python -m reports.report {run_dir}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reports.report",
        description="Write report.html and its charts into a run directory.",
    )
    parser.add_argument("run_dir", help="the run directory (runs/<timestamp>)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.run_dir)
    except FileNotFoundError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
