"""One progress bar for every long command: rich on a terminal, nothing at all otherwise.

    with progress_bar(total, enabled=sys.stderr.isatty(), label="sweep", unit="cells",
                      fields={"failed": 0}, shown=("{task.fields[failed]} failed",),
                      stderr=True) as advance:
        advance(1, failed=2)

The backtest (rows of the tape), the history download (broker calls) and the sweep (cells) each
draw the same columns: label, bar, done of total, the unit, the caller's own fields, time elapsed
and ETA. The caller decides `enabled` (whether its stream is a terminal): a pipe or a file (CI, a
sweep's worker) gets no bar and no control characters, and rich is not even imported then.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

Advance = Callable[..., None]


@contextlib.contextmanager
def progress_bar(
    total: int,
    *,
    enabled: bool,
    label: str,
    unit: str,
    fields: Mapping[str, Any] | None = None,
    shown: Sequence[str] = (),
    eta_label: bool = False,
    stderr: bool = False,
    console: Any = None,
) -> Iterator[Advance]:
    """Yield `advance(n, **fields)`: moves the bar by `n` and sets the caller's fields.

    `fields` are the caller's own values with their first ones; `shown` are the rich templates of
    the columns that show them after the unit, e.g. fields={"failed": 0} and
    shown=("{task.fields[failed]} failed",). `eta_label` writes "ETA" before the time remaining;
    `stderr` draws on stderr, so stdout keeps only the command's own output; `console` replaces
    both (tests).
    """
    if not enabled:
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[ProgressColumn] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        *(TextColumn(t) for t in shown),
        TimeElapsedColumn(),
    ]
    if eta_label:
        columns.append(TextColumn("ETA"))
    columns.append(TimeRemainingColumn())
    if console is None and stderr:
        console = Console(stderr=True)
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=total, **(fields or {}))

        def advance(n: int, **now: Any) -> None:
            bar.update(task, advance=n, **now)

        yield advance


def _nothing(n: int, **fields: object) -> None:
    pass
