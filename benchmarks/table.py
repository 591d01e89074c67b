"""The suite's one table: every benchmark's headline figures as rows, rendered for a 100-column
terminal.

A row is a dict {"benchmark", "metric", "value", "unit", "note"}. `value` is a number, a string,
None (no figure: failed or skipped, the note says why), or a list of numbers shown as "a / b / c" —
a latency row holds [p50, p99, p99.9] in µs (the table's caption says so). Each benchmark module
builds its rows with `row` and `latency_row` in its own `table_rows(result)`; the suite concatenates
them and prints them with rich when it is installed, as plain columns otherwise. The same rows go
into the JSON.
"""

from __future__ import annotations

import io
import textwrap

WIDTH = 100
LATENCY_UNIT = "µs"
CAPTION = "latency values are p50 / p99 / p99.9 over all samples (n in the note)"
# Plain-text column widths (the note takes what is left of WIDTH).
_WIDTHS = {"benchmark": 9, "metric": 36, "value": 26}   # the note takes the rest


def row(benchmark: str, metric: str, value, unit: str = "", note: str = "") -> dict:
    return {"benchmark": benchmark, "metric": metric, "value": value, "unit": unit, "note": note}


def latency_row(benchmark: str, metric: str, summary: dict | None, note: str = "") -> dict:
    """[p50, p99, p99.9] in µs of a benchmarks.stats.summarize dict; n= goes into the note."""
    if not summary or not summary.get("count"):
        return row(benchmark, metric, None, LATENCY_UNIT, _join(note, "no samples"))
    values = [float(summary["p50_us"]), float(summary["p99_us"]), float(summary["p99_9_us"])]
    return row(benchmark, metric, values, LATENCY_UNIT, _join(f"n={summary['count']:,}", note))


def failure_row(benchmark: str, error: str) -> dict:
    return row(benchmark, "FAILED", None, "", error)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def format_number(x) -> str:
    """Three significant figures or so, thousands separated: 2.26, 18.6, 787, 1,376, 89,020,188."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    magnitude = abs(x)
    if isinstance(x, int) or magnitude >= 1000:
        return f"{x:,.0f}"
    if magnitude >= 100:
        return f"{x:.0f}"
    if magnitude >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def format_value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return " / ".join(format_number(v) for v in value)
    return format_number(value)


def _scaled(value, unit: str):
    """µs figures whose p50 is 10 ms or more are easier read in ms."""
    if unit == "µs" and isinstance(value, (list, tuple)) and value and value[0] >= 10_000:
        return [v / 1000 for v in value], "ms"
    return value, unit


def _cells(r: dict) -> list[str]:
    """benchmark, metric, value with its unit, note."""
    value, unit = _scaled(r.get("value"), str(r.get("unit", "") or ""))
    value = format_value(value)
    return [str(r.get("benchmark", "")), str(r.get("metric", "")), f"{value} {unit}".rstrip(),
            str(r.get("note", "") or "")]


def render_plain(rows: list[dict], width: int = WIDTH) -> str:
    """Fixed columns; long metrics and notes wrap onto continuation lines."""
    widths = list(_WIDTHS.values())
    widths.append(max(12, width - sum(widths) - len(widths)))
    lines = [_line(["benchmark", "metric", "value", "note"], widths), "-" * width]
    previous = None
    for r in rows:
        cells = _cells(r)
        if previous is not None and cells[0] != previous:
            lines.append("")
        previous = cells[0]
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths)]
        for i in range(max(len(w) for w in wrapped)):
            lines.append(_line([w[i] if i < len(w) else "" for w in wrapped], widths))
    lines.append(CAPTION)
    return "\n".join(line.rstrip() for line in lines)


def _line(cells: list[str], widths: list[int]) -> str:
    name, metric, value, note = cells
    return f"{name:<{widths[0]}} {metric:<{widths[1]}} {value:>{widths[2]}} {note}"


def render_rich(rows: list[dict], width: int = WIDTH, *, color: bool = False) -> str:
    """The same table drawn by rich (raises ImportError when rich is missing)."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=color, color_system="auto" if color else None
    )
    console.print(_rich_table(rows))
    return buffer.getvalue().rstrip("\n")


def _rich_table(rows: list[dict]):
    from rich import box
    from rich.table import Table

    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0), caption=CAPTION
    )
    table.add_column("benchmark", style="bold", max_width=_WIDTHS["benchmark"], overflow="fold")
    table.add_column("metric", width=_WIDTHS["metric"], overflow="fold")
    table.add_column("value", justify="right", max_width=_WIDTHS["value"], overflow="fold")
    table.add_column("note", ratio=1, min_width=12, overflow="fold", style="dim")
    previous = None
    for r in rows:
        cells = _cells(r)
        if previous is not None and cells[0] != previous:
            table.add_section()
        previous = cells[0]
        style = "red" if cells[1] == "FAILED" else None
        table.add_row(*cells, style=style)
    return table


def print_table(rows: list[dict], file=None, width: int = WIDTH) -> None:
    """To the terminal: rich (with colour when the output is a terminal) or plain text."""
    import sys

    out = file or sys.stdout
    try:
        text = render_rich(rows, width, color=out.isatty())
    except ImportError:
        text = render_plain(rows, width)
    print(text, file=out)
