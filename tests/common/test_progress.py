"""common.progress: the one bar of the backtest, the sweep and the history download.

Drawn on a recording console that says it is a terminal (what a user sees) or not drawn at all.
"""

import io
import re

from rich.console import Console

from common.progress import progress_bar


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120), out


def _last_frame(drawn: str) -> str:
    """The bar as last drawn: after the final carriage return, control sequences removed."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn).rstrip().split("\r")[-1]


def test_progress_bar_when_on_a_terminal_then_it_draws_label_count_unit_fields_and_eta():
    console, out = _console(terminal=True)
    with progress_bar(
        4, enabled=True, label="sweep", unit="cells", fields={"failed": 0},
        shown=("{task.fields[failed]} failed",), eta_label=True, console=console,
    ) as advance:
        advance(3, failed=1)
    drawn = out.getvalue()
    assert "\x1b[" in drawn  # a terminal's bar: control characters
    last = _last_frame(drawn)
    for part in ("sweep", "3/4", "cells", "1 failed", "ETA"):
        assert part in last, (part, last)


def test_progress_bar_when_no_eta_label_or_fields_then_only_the_common_columns():
    console, out = _console(terminal=True)
    with progress_bar(10, enabled=True, label="backtest", unit="rows", console=console) as advance:
        advance(10)
    last = _last_frame(out.getvalue())
    assert "backtest" in last and "10/10" in last and "rows" in last
    assert "ETA" not in last and "failed" not in last


def test_progress_bar_when_not_a_terminal_then_nothing_is_written_and_advance_still_works():
    console, out = _console(terminal=True)
    with progress_bar(
        4, enabled=False, label="sweep", unit="cells", fields={"failed": 0}, console=console,
    ) as advance:
        advance(1)
        advance(2, failed=1)
    assert out.getvalue() == ""
