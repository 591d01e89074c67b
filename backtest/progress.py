"""The backtest's progress bar: rich on a terminal, nothing at all when stdout is not one.

    with progress_bar(total_rows, enabled=sys.stdout.isatty()) as advance:
        advance(rows_read)

Advanced once per tape chunk (16,384 rows), never per tick. A pipe or a file (CI, a sweep's worker)
gets no bar and no control characters.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def progress_bar(total: int, *, enabled: bool, label: str = "backtest"):
    """Yield `advance(n)`; draws a bar with rate and ETA over `total` file rows when enabled."""
    if not enabled:
        yield _nothing
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("rows"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _nothing(n: int) -> None:
    pass
