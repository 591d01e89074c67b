"""The download's progress bar: rich on stderr when it is a terminal, nothing otherwise.

    with chunk_bar(len(chunks), enabled=sys.stderr.isatty(), label="kite minute") as advance:
        advance(chunk)

Advanced once per chunk (one broker call, or one skipped for a failed symbol). On stderr, so stdout
carries only the JSON summary and stays parseable in a pipe; a pipe or a file gets no bar and no
control characters. The bar itself is common.progress's.
"""

from __future__ import annotations

import contextlib

from common.progress import progress_bar


@contextlib.contextmanager
def chunk_bar(total: int, *, enabled: bool, label: str):
    """Yield `advance(chunk)`: calls done of `total`, with the chunk's symbol and days, and ETA.
    No bar for an empty plan (nothing to wait for)."""
    with progress_bar(
        total, enabled=enabled and total > 0, label=label, unit="calls", fields={"at": ""},
        shown=("{task.fields[at]}",), stderr=True,
    ) as bar:
        yield lambda chunk: bar(1, at=f"{chunk.symbol} {chunk.first}..{chunk.last}")
