"""The download's progress bar: rich on stderr when it is a terminal, nothing otherwise.

    with chunk_bar(len(chunks), enabled=sys.stderr.isatty(), label="kite minute") as advance:
        advance(chunk)

Advanced once per chunk (one broker call, or one skipped for a failed symbol). On stderr, so stdout
carries only the JSON summary and stays parseable in a pipe; a pipe or a file gets no bar and no
control characters.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def chunk_bar(total: int, *, enabled: bool, label: str):
    """Yield `advance(chunk)`; draws calls done of `total`, with the chunk's symbol and days, and
    ETA."""
    if not enabled or total == 0:
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("calls"),
        TextColumn("{task.fields[at]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total, at="")

        def advance(chunk) -> None:
            bar.update(task, advance=1, at=f"{chunk.symbol} {chunk.first}..{chunk.last}")

        yield advance


def _nothing(chunk) -> None:
    pass
