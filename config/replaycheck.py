"""Is a replay file replayable? Checked by `--check-config` before anything starts, and by the feed.

The format is feed/replayfile.py's (config imports no stage, so the few rules a check needs are
restated here). `check_replay_file` opens the file and checks what makes a whole replay useless:
empty, not UTF-8 (anywhere: a stray byte fails the CSV reader on the whole file), not Parquet, a
required column missing or renamed, no rows, and every value of the first `FIRST_ROWS` rows. The
feed itself drops a bad row deeper in the file and counts it; a bad row among the first ones is
taken as the sign of a wrong file or format, which is what `--check-config` is for.

Every problem is a ReplayFileError (a ConfigError: exit 2 from `--check-config`, and a stage that
raises one is not restarted) naming the file, the line (or Parquet row) and the column.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import math
import os
import re

from common.clock import IST
from common.errors import ConfigError

FIRST_ROWS = 1000
INT64_MAX = (1 << 63) - 1
NUMERIC = ("price", "qty", "volume", "bid", "ask", "oi")   # price > 0, the others >= 0
_TS_TEXT = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?")
_UINT = re.compile(r"\d{1,19}")
_CHUNK = 1 << 20


class ReplayFileError(ConfigError):
    """A replay file that cannot be replayed; `line` and `column` say where, when one place is at
    fault."""

    def __init__(self, file: str, why: str, *, line: int | None = None, column: str | None = None,
                 unit: str = "line"):
        self.file, self.line, self.column = file, line, column
        where = f"replay file {file!r}"
        if line is not None:
            where += f" {unit} {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {why}", path="feed.replay.path")


def missing_columns(names) -> str | None:
    """What the header lacks, or None: a timestamp, an instrument and a price."""
    have = set(names)
    for options in (("ts_event_ns", "ts"), ("symbol", "token"), ("price",)):
        if not have & set(options):
            wanted = " or ".join(repr(o) for o in options)
            return f"no {wanted} column (columns: {', '.join(repr(n) for n in names) or 'none'})"
    return None


def find_invalid_utf8(path: str) -> tuple[int, int, int] | None:
    """(line, 0-based byte position in that line, byte value) of the first byte that is not
    UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, line_start, offset = 1, 0, 0      # offset: bytes of the file before this chunk
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                # e.object is the bytes the decoder held back from the last chunk (a partial
                # character, never a newline) followed by this chunk.
                bad = offset - (len(e.object) - len(chunk)) + e.start
                head = chunk[:max(0, bad - offset)]
                if b"\n" in head:
                    line += head.count(b"\n")
                    line_start = offset + head.rfind(b"\n") + 1
                return line, bad - line_start, e.object[e.start]
            if not chunk:
                return None
            if b"\n" in chunk:
                line += chunk.count(b"\n")
                line_start = offset + chunk.rfind(b"\n") + 1
            offset += len(chunk)


def parse_ts_text(text: str) -> int | None:
    """`YYYY-MM-DD HH:MM:SS[.f…]` IST → ns since the epoch (UTC), or None."""
    m = _TS_TEXT.fullmatch(text.strip())
    if m is None:
        return None
    try:
        wall = datetime.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        return None
    ns = int(wall.timestamp()) * 1_000_000_000 + int((m[2] or "").ljust(9, "0") or 0)
    return ns if 0 < ns <= INT64_MAX else None


def value_problem(column: str, value) -> str | None:
    """Why one value of a row would make the feed drop the row, or None."""
    text = "" if value is None else str(value).strip()
    if column == "ts_event_ns":
        ok = _UINT.fullmatch(text) is not None and 0 < int(text) <= INT64_MAX
        return (
            None if ok else f"{text!r} is not a timestamp in ns since the epoch (1 to {INT64_MAX})"
        )
    if column == "ts":
        if isinstance(value, datetime.datetime):
            return None
        ok = parse_ts_text(text) is not None
        return None if ok else f"{text!r} is not an IST time YYYY-MM-DD HH:MM:SS[.ffffff]"
    if column == "symbol":
        return None if text else "is empty"
    if column == "token":
        return None if _UINT.fullmatch(text) else f"{text!r} is not an instrument token"
    if column in NUMERIC:
        try:
            number = float(text)
        except ValueError:
            return f"{text!r} is not a number"
        positive = column == "price"
        ok = math.isfinite(number) and (number > 0 if positive else number >= 0)
        return (
            None
            if ok
            else f"{text!r} is not a {'positive' if positive else 'non-negative'} finite number"
        )
    return None


def check_replay_file(path: str, fmt: str | None) -> None:
    """Raise ReplayFileError for the first problem found (see the module docstring)."""
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise ReplayFileError(path, f"cannot be read ({e.strerror})") from None
    if size == 0:
        raise ReplayFileError(path, "is empty (not even a header)")
    if fmt == "parquet":
        _check_parquet(path)
    else:
        _check_csv(path)


def _check_rows(path: str, header, rows, first_line: int, unit: str) -> None:
    checked = [c for c in header if c in ("ts_event_ns", "ts", "symbol", "token", *NUMERIC)]
    count = 0
    for count, row in enumerate(rows, start=1):
        line = first_line + count - 1
        if not row:
            # a blank line (an editor's trailing newline): the feed skips it
            continue
        if len(row) != len(header):
            raise ReplayFileError(
                path, f"has {len(row)} fields, the header has {len(header)}", line=line, unit=unit
            )
        for column in checked:
            problem = value_problem(column, row[header.index(column)])
            if problem:
                raise ReplayFileError(path, problem, line=line, column=column, unit=unit)
    if count == 0:
        raise ReplayFileError(path, "has a header but no rows")


def _check_csv(path: str) -> None:
    bad = find_invalid_utf8(path)
    if bad is not None:
        line, column, byte = bad
        raise ReplayFileError(
            path, f"byte 0x{byte:02x} at position {column + 1} is not UTF-8", line=line
        )
    with open(path, encoding="utf-8-sig", newline="") as f:     # a BOM, as the feed's reader allows
        reader = csv.reader(f)
        header = next(reader, [])
        problem = missing_columns(header)
        if problem:
            raise ReplayFileError(path, problem, line=1)
        rows = (row for _, row in zip(range(FIRST_ROWS), reader))
        _check_rows(path, header, rows, first_line=2, unit="line")


def _check_parquet(path: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise ReplayFileError(path, f"is not a readable Parquet file ({e})") from None
    header = pfile.schema_arrow.names
    problem = missing_columns(header)
    if problem:
        raise ReplayFileError(path, problem)
    batch = next(pfile.iter_batches(batch_size=FIRST_ROWS), None)
    rows = [] if batch is None else [tuple(r.values()) for r in batch.to_pylist()]
    _check_rows(path, header, rows, first_line=1, unit="row")
