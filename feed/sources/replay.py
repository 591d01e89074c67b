"""`replay`: recorded ticks from a CSV or Parquet file (format in feed/replayfile.py).

The whole file is validated up front with vectorised checks, and every bad row is counted by reason
and dropped: unparsable or missing values, NaN or non-positive prices, instruments not in the table.
What remains is delivered in file order, paced at the recorded speed × `speed`, or as fast as
possible when `speed` is 0 (or while a restarted feed re-reads what it already published:
`pace(False)`). Rows out of time order or far ahead of the recording's own clock are delivered too:
the feed's sanity filter (feed/sanity.py) judges them, as it does every source's ticks; pacing
follows the same clock, so one far-future row is not waited for.

A file that cannot be replayed at all (missing, empty, not UTF-8, not Parquet, a required column
missing or renamed, no usable row) raises ReplayFileError naming the file and, where one place is at
fault, the line and column: a ConfigError, so the supervisor does not restart the feed into it
again.
"""

from __future__ import annotations

import time

import numpy as np

from common.clock import mono_ns
from common.dtypes import FLAG_REPLAY
from common.replaycolumns import read_csv_text, symbol_codes, timestamps, to_float, to_int
from config.replaycheck import ReplayFileError, find_invalid_utf8, missing_columns
from feed.replayfile import detect_format
from feed.sanity import event_clock_trace
from feed.sources.base import EndOfFeed, TickSource

NUMERIC = ("price", "qty", "volume", "bid", "ask", "oi")


def _read_table(path: str, fmt: str):
    import pyarrow as pa

    try:
        if detect_format(path, fmt) == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        return _read_csv(path)
    except OSError as e:
        raise ReplayFileError(path, f"cannot be read ({e.strerror or e})") from None
    except pa.ArrowInvalid as e:
        if "UTF8" in str(e):
            bad = find_invalid_utf8(path)
            if bad is not None:
                line, column, byte = bad
                raise ReplayFileError(
                    path, f"byte 0x{byte:02x} at position {column + 1} is not UTF-8", line=line
                ) from None
        raise ReplayFileError(path, f"cannot be read: {e}") from None


def _read_csv(path: str):
    table, bad_rows = read_csv_text(path)
    return table.replace_schema_metadata({"otrade_bad_rows": str(bad_rows)})


def _instruments(table, instruments) -> np.ndarray:
    """Instrument index per row, -1 where unknown."""
    if "symbol" in table.column_names:
        # the lookup once per distinct symbol
        names, codes = symbol_codes(table.column("symbol"))
        lookup = {instruments.symbol(i): i for i in range(len(instruments))}
        return np.array([lookup.get(s, -1) for s in names] + [-1], dtype=np.int64)[codes]
    # A token not in the table is that row's "unknown instrument" (-1), counted and dropped.
    tokens = to_int(table.column("token"))
    known, rows = instruments.tokens_sorted, instruments.token_rows
    if len(known) == 0:
        return np.full(len(tokens), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(known, tokens), len(known) - 1)
    return np.where((tokens >= 0) & (known[at] == tokens), rows[at], -1).astype(np.int64)


class ReplaySource(TickSource):
    name = "replay"
    clock = "recording"

    def __init__(self, path: str, fmt: str = "auto", speed: float = 0.0, sanity=None):
        super().__init__()
        self.path, self.fmt, self.speed = path, fmt, float(speed)
        self.sanity = sanity            # config.feed.sanity: pacing follows the clock it keeps
        self._pos = 0
        self._paced = True

    def open(self, instruments, start_after: int = 0) -> None:
        table = _read_table(self.path, self.fmt)
        problem = missing_columns(table.column_names)
        if problem:
            raise ReplayFileError(self.path, problem)
        meta = table.schema.metadata or {}
        self.stats.dropped_malformed += int(meta.get(b"otrade_bad_rows", b"0"))
        n = table.num_rows
        ts = timestamps(table)
        inst = _instruments(table, instruments)
        cols = {
            c: (to_float(table.column(c)) if c in table.column_names else np.zeros(n))
            for c in NUMERIC
        }
        price = cols["price"]
        malformed = ~np.isfinite(price) | (price <= 0) | (ts <= 0)
        for c in ("qty", "volume", "bid", "ask", "oi"):
            malformed |= ~np.isfinite(cols[c]) | (cols[c] < 0)
        unknown = ~malformed & (inst < 0)
        ok = ~malformed & ~unknown
        self.stats.dropped_malformed += int(malformed.sum())
        self.stats.dropped_unknown += int(unknown.sum())
        self.ts, self.inst = ts[ok], inst[ok].astype(np.uint16)
        self.cols = {c: v[ok] for c, v in cols.items()}
        self.total = int(ok.sum())
        if self.total == 0:
            raise self._nothing_usable(table, n, ts, price, malformed, unknown)
        self.pace_ts = self._pace_clock()
        self._pos = min(start_after, self.total)
        self._restart_pacing()

    def _nothing_usable(self, table, n, ts, price, malformed, unknown) -> ReplayFileError:
        """The error for a file no row of which is usable, naming the column that made it so."""
        column = "ts_event_ns" if "ts_event_ns" in table.column_names else "ts"
        bad_ts, bad_price = int((ts <= 0).sum()), int((~np.isfinite(price) | (price <= 0)).sum())
        why = (
            f"has no usable tick ({n} rows: {int(malformed.sum())} malformed — {column} unreadable "
            f"in {bad_ts}, price in {bad_price}; {int(unknown.sum())} of instruments not in the "
            "table)"
        )
        if bad_ts == n:
            hint = ("integer ns since the epoch" if column == "ts_event_ns" else
                    "IST text YYYY-MM-DD HH:MM:SS[.fraction], no zone suffix")
            return ReplayFileError(
                self.path, f"{why}: every {column} is unreadable ({hint})", column=column
            )
        if bad_price == n:
            return ReplayFileError(
                self.path, f"{why}: every price is unreadable or not positive", column="price"
            )
        return ReplayFileError(self.path, why)

    def _pace_clock(self) -> np.ndarray:
        """The recording's clock after each row, as the sanity filter keeps it (monotone)."""
        gap_s = self.sanity.max_gap_s if self.sanity is not None else 7 * 86400.0
        reanchor = self.sanity.reanchor_ticks if self.sanity is not None else 5
        gap_ns = min(int(gap_s * 1e9), 1 << 62)
        out = np.empty(self.total, np.int64)
        event_clock_trace(self.ts, time.time_ns() + gap_ns, gap_ns, int(reanchor), out)
        return out

    def _restart_pacing(self) -> None:
        self._origin_mono = mono_ns()
        self._origin_ts = int(self.pace_ts[self._pos]) if self._pos < self.total else 0

    def pace(self, on: bool) -> None:
        self._paced = on
        if on:
            self._restart_pacing()

    def _paced_end(self, end: int, timeout_s: float) -> int:
        """Last index (exclusive) whose recorded time has come, waiting up to timeout_s for one."""
        if self.speed <= 0 or not self._paced:
            return end
        deadline = time.monotonic() + timeout_s
        while True:
            market_now = self._origin_ts + (mono_ns() - self._origin_mono) * self.speed
            due = int(np.searchsorted(self.pace_ts, market_now, side="right"))
            if due > self._pos:
                return min(end, due)
            wait = (int(self.pace_ts[self._pos]) - market_now) / self.speed / 1e9
            if time.monotonic() + wait > deadline:
                time.sleep(max(0.0, deadline - time.monotonic()))
                return self._pos
            time.sleep(max(wait, 0.0))

    def read(self, out: np.ndarray, timeout_s: float) -> int:
        if self._pos >= self.total:
            raise EndOfFeed(f"replay: end of {self.path} ({self.total} ticks)")
        end = self._paced_end(min(self.total, self._pos + len(out)), timeout_s)
        n = end - self._pos
        if n <= 0:
            return 0
        sl = slice(self._pos, end)
        dst = out[:n]
        dst["seq"] = 0
        dst["ts_event_ns"] = self.ts[sl]
        dst["instrument"] = self.inst[sl]
        for c in NUMERIC:
            dst[c] = self.cols[c][sl]
        dst["flags"] = FLAG_REPLAY
        dst["ts_recv_ns"] = mono_ns()     # "received" = handed to the feed, after the copy
        self._pos = end
        self.stats.received += n
        return n
