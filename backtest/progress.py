"""The backtest's progress bar: rich on a terminal, nothing at all when stdout is not one.

    with progress_bar(total_rows, enabled=sys.stdout.isatty()) as advance:
        advance(rows_read)

Advanced once per tape chunk (16,384 rows), never per tick. A pipe or a file (CI, a sweep's worker)
gets no bar and no control characters. The bar itself is common.progress's, on stdout.
"""

from __future__ import annotations

from common.progress import progress_bar as _bar


def progress_bar(total: int, *, enabled: bool, label: str = "backtest"):
    """A context yielding `advance(n)`: a bar with rate and ETA over `total` file rows."""
    return _bar(total, enabled=enabled, label=label, unit="rows")
