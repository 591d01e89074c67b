"""The report page: one self-contained HTML file (inline CSS, charts as PNG files beside it, no
script, nothing fetched from a network), headline numbers first, then charts, then the tables behind
them."""

from __future__ import annotations

import html
from collections.abc import Set as AbstractSet
from datetime import datetime

from common.clock import IST

MAX_FILL_ROWS = 200

CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px auto;
     max-width:1040px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#59636e;margin-bottom:14px}
.tiles{display:grid;grid-template-columns:repeat(5,1fr);gap:8px}
.tile{border:1px solid #d0d7de;border-radius:6px;padding:8px 10px}
.tile .k{color:#59636e;font-size:12px} .tile .v{font-size:19px;font-weight:600}
.pos{color:#1a7f37} .neg{color:#cf222e}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:12px 0}
.none{color:#59636e;font-style:italic}
img{max-width:100%;display:block;margin:6px 0}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{padding:3px 8px;border-bottom:1px solid #eaeef2}
th{text-align:left;background:#f6f8fa} td.n{text-align:right;font-variant-numeric:tabular-nums}
"""


def rupees(value: float) -> str:
    value = round(value, 2) + 0.0      # + 0.0: a rounded -0.0 would print as "₹-0.00"
    return f"₹{value:,.2f}" if value >= 0 else f"−₹{-value:,.2f}"


def esc(value) -> str:
    return html.escape(str(value))


def ist_text(ts_ns: int) -> str:
    """Epoch ns (UTC) as IST wall time to the millisecond."""
    if ts_ns <= 0:
        return "—"
    moment = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=IST)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + f".{ts_ns % 1_000_000_000 // 1_000_000:03d}"


def money(value: float) -> str:
    # the colour follows the figure shown: −₹0.001 is ₹0.00, not red
    value = round(value, 2)
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<span class="{css}">{esc(rupees(value))}</span>'


def tile(key: str, value_html: str) -> str:
    return (
        f'<div class="tile"><div class="k">{esc(key)}</div><div class="v">{value_html}</div></div>'
    )


def table(headers: list[str], rows: list[list], numeric: AbstractSet[int] = frozenset()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image(charts: dict, name: str, alt: str) -> str:
    return f'<img src="{esc(charts[name])}" alt="{esc(alt)}">' if name in charts else ""


def headline(inputs, perf, block: dict | None = None) -> str:
    """The headline tiles; trades are the statistics' (bracket round trips) when `block` is
    given."""
    total = (block or {}).get("total")
    if total is not None:
        closed, winners = total["trades_closed"], total["winners"]
    else:
        closed, winners = len(perf.round_trips), perf.winners
    won = f"{winners} of {closed} won" if closed else "none closed"
    tiles = [
        tile("Realised P&L (net of fees)", money(perf.realised_pnl_inr)),
        tile("Unrealised (open, at last price)", money(perf.unrealised_pnl_inr)),
        tile("Total P&L", money(perf.realised_pnl_inr + perf.unrealised_pnl_inr)),
        tile("Fees", esc(rupees(perf.fees_inr))),
        tile("Max drawdown (realised)", money(perf.max_drawdown_inr)),
        tile("Fills", f"{len(perf.ts_ns):,}"),
        tile(
            "Trades" if total is not None else "Round trips",
            f"{closed:,} <small>({esc(won)})</small>",
        ),
        tile("Orders submitted", f"{inputs.count('OrderSubmitting'):,}"),
        tile("Denials", f"{inputs.count('OrderDenied'):,}"),
        tile("Rejections", f"{inputs.count('OrderRejected'):,}"),
    ]
    return f'<div class="tiles">{"".join(tiles)}</div>'


def warnings(inputs, perf) -> str:
    notes = []
    recorded = inputs.positions.get("realised_pnl_inr")
    if recorded is not None and abs(float(recorded) - perf.realised_pnl_inr) > 0.01:
        notes.append(
            f"positions.json records realised P&amp;L {esc(rupees(float(recorded)))}, "
            f"the fills replayed here give "
            f"{esc(rupees(perf.realised_pnl_inr))}: the positions stage did not apply every "
            "journaled fill."
        )
    if inputs.missing:
        notes.append(
            "Not in the run directory: "
            + esc(", ".join(inputs.missing))
            + " (the run may have been killed)."
        )
    if inputs.unreadable_lines:
        notes.append(f"{inputs.unreadable_lines} unreadable journal line(s) were skipped.")
    return "".join(f'<div class="warn">{n}</div>' for n in notes)


def instrument_table(perf) -> str:
    rows = []
    for _, p in sorted(perf.book.positions.items(), key=lambda kv: kv[1].symbol):
        rows.append(
            [
                esc(p.symbol),
                f"{perf.fills_per_symbol.get(p.symbol, 0):,}",
                f"{p.buy_qty:,}",
                f"{p.sell_qty:,}",
                f"{p.qty:,}",
                f"{p.avg_price:,.2f}" if p.qty else "—",
                f"{p.last_price:,.2f}",
                money(p.realised_pnl_inr),
                esc(rupees(p.fees_inr)),
                money(p.unrealised_pnl_inr),
            ]
        )
    return table(
        [
            "symbol",
            "fills",
            "bought",
            "sold",
            "open qty",
            "avg price",
            "last price",
            "realised net",
            "fees",
            "unrealised",
        ],
        rows,
        numeric=set(range(1, 10)),
    )


def round_trip_table(perf) -> str:
    trips = perf.round_trips
    if not trips:
        return '<p class="none">No round trip was closed.</p>'
    wins = [t.pnl_inr for t in trips if t.pnl_inr > 0]
    losses = [t.pnl_inr for t in trips if t.pnl_inr <= 0]
    rows = [
        [
            f"{len(trips):,}",
            f"{len(wins):,} ({100.0 * len(wins) / len(trips):.0f}%)",
            money(sum(wins) / len(wins)) if wins else "—",
            money(sum(losses) / len(losses)) if losses else "—",
            money(max(t.pnl_inr for t in trips)),
            money(min(t.pnl_inr for t in trips)),
        ]
    ]
    return table(
        ["round trips", "winners", "average win", "average loss", "best", "worst"],
        rows,
        set(range(6)),
    )


def denial_table(inputs) -> str:
    if not inputs.denials:
        return '<p class="none">No order was denied.</p>'
    rows = [[esc(key), str(code), esc(inputs.denial_text.get(key, "")), f"{n:,}"]
            for (key, code), n in inputs.denials.most_common()]
    return table(["reason", "code", "meaning", "denials"], rows, numeric={1, 3})


def rejection_table(inputs) -> str:
    if not inputs.rejections:
        return ""
    rows = [
        [esc(reason), esc(code), f"{n:,}"] for (reason, code), n in inputs.rejections.most_common()
    ]
    return "<h3>Rejections by the broker</h3>" + table(
        ["reason", "code", "rejections"], rows, numeric={2}
    )


def latency_table(inputs) -> str:
    if not inputs.latency:
        return '<p class="none">No latency figures were recorded.</p>'
    us = lambda ns: f"{ns / 1e3:,.1f}"  # noqa: E731
    rows = [
        [
            esc(r.stage),
            esc(r.metric),
            f"{r.count:,}",
            us(r.p50_ns),
            us(r.p99_ns),
            us(r.p999_ns),
            us(r.max_ns),
        ]
        for r in inputs.latency
    ]
    return table(
        ["stage", "path", "count", "p50 µs", "p99 µs", "p99.9 µs", "max µs"], rows, set(range(2, 7))
    )


def lifecycle_table(inputs) -> str:
    notable = [
        r
        for r in inputs.lifecycle
        if r.get("kind") in ("restart", "hang", "give_up", "restart_denied", "trading_halted")
    ]
    if not notable:
        return '<p class="none">No stage crashed, hung or was restarted.</p>'
    rows = [
        [
            esc(datetime.fromtimestamp(float(r.get("ts", 0)), tz=IST).strftime("%H:%M:%S")),
            esc(r.get("kind")),
            esc(r.get("stage", "")),
            esc(r.get("reason", "")),
        ]
        for r in notable
    ]
    return table(["wall time (IST)", "event", "stage", "reason"], rows)


def fills_table(perf) -> str:
    fills = perf.fills
    shown = fills[-MAX_FILL_ROWS:]
    rows = [
        [
            esc(ist_text(f.ts_event_ns)),
            esc(f.symbol),
            esc(f.role),
            "BUY" if f.side > 0 else "SELL",
            f"{f.qty:,}",
            f"{f.price:,.2f}",
            esc(rupees(f.fees_inr)),
            esc(f.strategy),
            esc(f.bracket_id),
        ]
        for f in shown
    ]
    note = (
        f'<p class="none">The last {len(shown)} of {len(fills):,} fills; all of them are in '
        'fills.jsonl.</p>'
        if len(shown) < len(fills)
        else ""
    )
    headers = ["time", "symbol", "role", "side", "qty", "price", "fees", "strategy", "bracket"]
    return note + table(headers, rows, numeric={4, 5, 6})
