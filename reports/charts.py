"""The PNG charts of a run report, drawn with matplotlib's Agg canvas.

Figures are built as `matplotlib.figure.Figure` objects on an explicit Agg canvas rather than
through pyplot, so rendering at the end of a run touches no global backend state of the supervisor
process and needs no display. Times on the x axis are market time in IST. Colours carry one meaning
throughout: green made money or bought, red lost money or sold.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from common.clock import IST_OFFSET_NS
from reports.page import rupees

GREEN, RED, GREY, BLUE = "#1a7f37", "#cf222e", "#6e7781", "#0969da"
EXIT_ROLES = ("STOP", "TARGET", "SQUAREOFF", "FLATTEN")
DPI = 100


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str) -> str:
    fig.savefig(path, format="png", dpi=DPI)
    return path


def _style(ax, title: str = "") -> None:
    ax.grid(True, color="#d0d7de", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, loc="left", fontsize=11, fontweight="bold")


def ist(ts_ns) -> np.ndarray:
    """Epoch ns (UTC) -> naive datetime64 in IST, which matplotlib draws as wall-clock time."""
    return (np.asarray(ts_ns, dtype=np.int64) + IST_OFFSET_NS).astype("datetime64[ns]")


def _time_axis(ax, times, label: bool = True) -> None:
    """Wall-clock ticks: to the second when the span is short (a sim run is seconds of market
    time)."""
    times = np.asarray(times)
    span_s = (times.max() - times.min()) / np.timedelta64(1, "s") if len(times) else 0.0
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=4, maxticks=10))
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S" if span_s < 3600 else "%H:%M"))
    if label:
        day = str(times.min())[:10] if len(times) else ""
        ax.set_xlabel(f"market time, IST ({day})")


def equity_chart(perf, final_total_inr: float, path: str) -> str:
    """Cumulative realised P&L net of fees, one step per fill, from 0 at the first fill."""
    fig = _figure(10, 3.6)
    ax = fig.add_subplot()
    t = ist(np.concatenate([perf.ts_ns[:1], perf.ts_ns]))
    y = np.concatenate([[0.0], perf.equity_inr])
    ax.step(t, y, where="post", color=BLUE, linewidth=1.6, label="realised, net of fees")
    ax.fill_between(t, y, 0, where=y >= 0, step="post", color=GREEN, alpha=0.15, interpolate=True)
    ax.fill_between(t, y, 0, where=y < 0, step="post", color=RED, alpha=0.15, interpolate=True)
    ax.axhline(0, color=GREY, linewidth=0.8)
    ax.plot(t[-1:], [final_total_inr], "o", mfc="white", mec=BLUE, ms=7,
            label=f"incl. open positions: {rupees(final_total_inr)}")
    ax.annotate(
        rupees(float(y[-1])),
        (t[-1], y[-1]),
        xytext=(6, 0),
        textcoords="offset points",
        va="center",
        fontweight="bold",
        color=GREEN if y[-1] >= 0 else RED,
    )
    _style(
        ax,
        f"Equity: realised P&L net of fees, {rupees(float(y[-1]))} after {len(perf.ts_ns)} fills",
    )
    ax.set_ylabel("P&L ₹")
    ax.legend(loc="best", fontsize=8, frameon=False)
    _time_axis(ax, t)
    return _save(fig, path)


def drawdown_chart(perf, path: str) -> str:
    fig = _figure(10, 2.6)
    ax = fig.add_subplot()
    t = ist(np.concatenate([perf.ts_ns[:1], perf.ts_ns]))
    dd = np.concatenate([[0.0], perf.drawdown_inr])
    ax.fill_between(t, dd, 0, step="post", color=RED, alpha=0.35, linewidth=0)
    ax.step(t, dd, where="post", color=RED, linewidth=1.0)
    worst = int(np.argmin(dd))
    if dd[worst] < 0:
        right_half = worst > len(dd) / 2  # keep the label inside the plot
        ax.annotate(
            f"max {rupees(float(dd[worst]))}",
            (t[worst], dd[worst]),
            xytext=(-6 if right_half else 6, 4),
            textcoords="offset points",
            ha="right" if right_half else "left",
            va="bottom",
            color=RED,
            fontweight="bold",
        )
    _style(
        ax, f"Drawdown from the best realised equity so far (max {rupees(perf.max_drawdown_inr)})"
    )
    ax.set_ylabel("₹ below peak")
    _time_axis(ax, t)
    return _save(fig, path)


def _trade_panel(ax, price_path, fills, net_inr: float) -> None:
    if len(price_path.ts_ns):
        dashed = not price_path.from_ticks  # joined fill prices: a guide, not the market's path
        ax.plot(
            ist(price_path.ts_ns),
            price_path.price,
            color=GREY,
            linewidth=1.0,
            linestyle="--" if dashed else "-",
        )
    for side, marker, colour in ((1, "^", GREEN), (-1, "v", RED)):
        for exits in (False, True):
            pick = [f for f in fills if f.side == side and (f.role in EXIT_ROLES) == exits]
            if pick:
                ax.scatter(
                    ist([f.ts_event_ns for f in pick]),
                    [f.price for f in pick],
                    marker=marker,
                    s=64,
                    zorder=3,
                    facecolors="white" if exits else colour,
                    edgecolors=colour,
                    linewidths=1.4,
                )
    _style(
        ax,
        f"{price_path.symbol}: {len(fills)} fill{'' if len(fills) == 1 else 's'}, realised net "
        f"{rupees(net_inr)}",
    )
    ax.set_ylabel("price ₹")


def trades_chart(
    paths: dict, fills: list, symbols: list[str], net_by_symbol: dict, note: str, path: str
) -> str:
    """One panel per symbol: the price path with every fill on it (filled = entry, hollow =
    exit)."""
    fig = _figure(10, 2.5 * len(symbols) + 0.8)
    axes = fig.subplots(len(symbols), 1, squeeze=False, sharex=True)[:, 0]
    for ax, symbol in zip(axes, symbols):
        _trade_panel(
            ax,
            paths[symbol],
            [f for f in fills if f.symbol == symbol],
            net_by_symbol.get(symbol, 0.0),
        )
    times = np.concatenate(
        [ist(paths[s].ts_ns) for s in symbols] + [ist([f.ts_event_ns for f in fills])]
    )
    _time_axis(axes[-1], times)
    legend = [
        Line2D([], [], marker="^", ls="", color=GREEN, ms=8, label="buy entry"),
        Line2D([], [], marker="^", ls="", mfc="white", mec=GREEN, ms=8, label="buy exit"),
        Line2D([], [], marker="v", ls="", color=RED, ms=8, label="sell entry"),
        Line2D(
            [],
            [],
            marker="v",
            ls="",
            mfc="white",
            mec=RED,
            ms=8,
            label="sell exit (stop/target/square-off)",
        ),
    ]
    fig.legend(handles=legend, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    fig.suptitle(note, fontsize=8, color=GREY, x=0.01, ha="left")
    return _save(fig, path)


def pnl_chart(rows: list[dict], path: str) -> str:
    """Per instrument: realised net of fees (solid) and unrealised at the last price (hatched)."""
    rows = sorted(rows, key=lambda r: r["realised_pnl_inr"] + r["unrealised_pnl_inr"])
    fig = _figure(10, max(2.4, 0.34 * len(rows) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    realised = np.array([r["realised_pnl_inr"] for r in rows])
    unrealised = np.array([r["unrealised_pnl_inr"] for r in rows])
    ax.barh(y + 0.18, realised, height=0.36, color=[GREEN if v >= 0 else RED for v in realised],
            label="realised, net of fees")
    ax.barh(
        y - 0.18,
        unrealised,
        height=0.36,
        color="white",
        edgecolor=[GREEN if v >= 0 else RED for v in unrealised],
        hatch="///",
        label="unrealised (open)",
    )
    for yi, v in zip(y, realised):
        ax.annotate(
            rupees(float(v)),
            (v, yi + 0.18),
            xytext=(4 if v >= 0 else -4, 0),
            textcoords="offset points",
            ha="left" if v >= 0 else "right",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(y, [r["symbol"] for r in rows])
    ax.axvline(0, color=GREY, linewidth=0.8)
    ax.margins(x=0.15)
    _style(ax, "P&L per instrument")
    ax.set_xlabel("₹")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _save(fig, path)


def _count_bars(ax, labels: list[str], values: list[int], colours: list[str], title: str) -> None:
    y = np.arange(len(labels))
    ax.barh(y, values, color=colours)
    for yi, v in zip(y, values):
        ax.annotate(
            f"{v:,}", (v, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8
        )
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.margins(x=0.18)
    _style(ax, title)


def orders_chart(
    order_counts: list[tuple[str, int]], denials: list[tuple[str, int]], path: str
) -> str:
    """Left: what happened to orders; right: why risk denied intents."""
    fig = _figure(10, max(2.6, 0.36 * max(len(order_counts), len(denials), 1) + 1.2))
    left, right = fig.subplots(1, 2)
    colours = {"denied": RED, "rejected": RED, "filled": GREEN}
    _count_bars(left, [k for k, _ in order_counts], [v for _, v in order_counts],
                [colours.get(k.split()[-1], BLUE) for k, _ in order_counts], "Orders")
    if denials:
        _count_bars(
            right,
            [k for k, _ in denials],
            [v for _, v in denials],
            [RED] * len(denials),
            "Denials by reason",
        )
    else:
        _style(right, "Denials by reason")
        right.text(
            0.5, 0.5, "no denials", ha="center", va="center", transform=right.transAxes, color=GREY
        )
        right.set_xticks([])
        right.set_yticks([])
    return _save(fig, path)


def latency_chart(rows: list, path: str) -> str:
    """p50 / p99 / p99.9 / max of every measured path, in µs on a log scale."""
    fig = _figure(10, max(2.4, 0.7 * len(rows) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    marks = (("p50", "p50_ns", BLUE), ("p99", "p99_ns", "#bf8700"), ("p99.9", "p999_ns", "#8250df"),
             ("max", "max_ns", RED))
    height = 0.8 / len(marks)
    for i, (label, key, colour) in enumerate(marks):
        values = np.array([max(getattr(r, key), 1) for r in rows]) / 1e3
        bars = ax.barh(
            y - 0.4 + height * (i + 0.5), values, height=height, color=colour, label=label
        )
        ax.bar_label(
            bars, [f"{v:,.0f}" if v >= 10 else f"{v:.1f}" for v in values], padding=3, fontsize=7
        )
    ax.set_xscale("log")
    ax.margins(x=0.08)
    ax.set_yticks(
        y, [f"{r.stage}: {r.metric.replace('_', ' ')}\n(n={r.count:,})" for r in rows], fontsize=8
    )
    ax.invert_yaxis()
    _style(ax, "Latency percentiles")
    ax.set_xlabel("µs (log scale)")
    ax.legend(loc="lower right", fontsize=8, frameon=False, ncols=4)
    return _save(fig, path)


def benchmark_chart(curve: tuple, bench: dict, path: str) -> str:
    """The portfolio's net equity (open positions marked) against buy-and-hold of the benchmark with
    the whole capital, both in rupees from 0 at the run's start."""
    fig = _figure(10, 3.2)
    ax = fig.add_subplot()
    times, equity = curve
    ax.step(
        ist(times),
        equity,
        where="post",
        color=BLUE,
        linewidth=1.6,
        label="portfolio, net, marked to market",
    )
    if bench.get("curve") is not None:
        bt, bv = bench["curve"]
        ax.step(ist(bt), bv, where="post", color=GREY, linewidth=1.0, linestyle="--",
                label=f"buy-and-hold {bench['symbol']}")
        times = np.concatenate([times, bt])
    ax.axhline(0, color=GREY, linewidth=0.6)
    _style(ax, "Portfolio against the benchmark (₹ on the same capital)")
    ax.set_ylabel("P&L ₹")
    ax.legend(loc="best", fontsize=8, frameon=False)
    _time_axis(ax, ist(times))
    return _save(fig, path)
