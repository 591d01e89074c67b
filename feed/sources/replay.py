"""`replay`: recorded ticks from a CSV or Parquet file (format in feed/replayfile.py).

The whole file is validated up front with vectorised checks, and every bad row is counted by reason
and dropped: unparsable or missing values, NaN or non-positive prices, instruments not in the table,
timestamps earlier than an already accepted tick. What remains is delivered in file order, paced at the
recorded speed × `speed`, or as fast as possible when `speed` is 0. A restarted feed skips the first
`start_after` valid ticks and so continues with exactly the tick the dead one would have sent next.
"""

from __future__ import annotations

import time

import numpy as np

from common.clock import mono_ns
from common.dtypes import FLAG_REPLAY
from feed.replayfile import IST_OFFSET_NS, detect_format
from feed.sources.base import EndOfFeed, TickSource

NUMERIC = ("price", "qty", "volume", "bid", "ask", "oi")


def _read_table(path: str, fmt: str):
    import pyarrow as pa

    if detect_format(path, fmt) == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pyarrow.csv as pacsv

    bad = []

    def skip(row):  # rows with the wrong number of fields: count, skip
        bad.append(row.number)
        return "skip"

    # Everything as text first: one malformed number must cost one row, not the whole file.
    opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in ("ts", "symbol", *NUMERIC, "ts_event_ns", "token")})
    table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(invalid_row_handler=skip), convert_options=opts)
    return table.replace_schema_metadata({"otrade_bad_rows": str(len(bad))})


def _to_float(col) -> np.ndarray:
    """A pyarrow column → float64, with NaN where a value is missing or unparsable."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        text = pc.utf8_trim_whitespace(col)
        ok = pc.match_substring_regex(text, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
        text = pc.if_else(pc.fill_null(ok, False), text, None)
        col = pc.cast(text, pa.float64())
    return col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _to_int(col) -> np.ndarray:
    """A pyarrow column → int64 (exactly: nanosecond timestamps do not fit a float), -1 where invalid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        text = pc.utf8_trim_whitespace(col)
        ok = pc.fill_null(pc.match_substring_regex(text, r"^\d{1,19}$"), False)
        col = pc.cast(pc.if_else(ok, text, None), pa.int64())
    elif not pa.types.is_integer(col.type):
        col = pc.cast(col, pa.int64(), safe=False)
    return col.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _timestamps(table) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if "ts_event_ns" in table.column_names:
        return _to_int(table.column("ts_event_ns"))
    if "ts" not in table.column_names:
        raise ValueError("replay file needs a ts_event_ns or ts column")
    col = table.column("ts")
    if not pa.types.is_timestamp(col.type):
        col = pc.strptime(pc.utf8_slice_codeunits(col, 0, 19), format="%Y-%m-%d %H:%M:%S", unit="ns", error_is_null=True)
    ns = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
    ns = np.where(np.isnan(ns.astype(np.float64)), -1, ns) if ns.dtype.kind == "f" else ns
    return np.where(ns > 0, ns - IST_OFFSET_NS, -1).astype(np.int64)   # the text is IST wall time


def _instruments(table, instruments) -> np.ndarray:
    """Instrument index per row, -1 where unknown."""
    import pyarrow.compute as pc

    if "symbol" in table.column_names:
        # Dictionary-encode so the Python lookup runs once per distinct symbol, not once per row.
        encoded = pc.dictionary_encode(table.column("symbol")).combine_chunks()
        lookup = {instruments.symbol(i): i for i in range(len(instruments))}
        names = encoded.dictionary.to_pylist()
        mapping = np.array([lookup.get(str(s).rsplit(":", 1)[-1], -1) for s in names] + [-1], dtype=np.int64)
        codes = encoded.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
        return mapping[codes]
    tokens = _to_float(table.column("token"))
    return np.array([instruments.index_of_token(int(t)) if np.isfinite(t) else -1 for t in tokens], dtype=np.int64)


class ReplaySource(TickSource):
    name = "replay"

    def __init__(self, path: str, fmt: str = "auto", speed: float = 0.0):
        super().__init__()
        self.path, self.fmt, self.speed = path, fmt, float(speed)
        self._pos = 0

    def open(self, instruments, start_after: int = 0) -> None:
        table = _read_table(self.path, self.fmt)
        meta = table.schema.metadata or {}
        self.stats.dropped_malformed += int(meta.get(b"otrade_bad_rows", b"0"))
        n = table.num_rows
        ts = _timestamps(table)
        inst = _instruments(table, instruments)
        cols = {c: (_to_float(table.column(c)) if c in table.column_names else np.zeros(n)) for c in NUMERIC}
        price = cols["price"]
        malformed = ~np.isfinite(price) | (price <= 0) | (ts <= 0)
        for c in ("qty", "volume", "bid", "ask", "oi"):
            malformed |= ~np.isfinite(cols[c]) | (cols[c] < 0)
        unknown = ~malformed & (inst < 0)
        ok = ~malformed & ~unknown
        prev_max = np.maximum.accumulate(np.where(ok, ts, np.iinfo(np.int64).min))
        prev_max = np.concatenate(([np.iinfo(np.int64).min], prev_max[:-1]))
        out_of_order = ok & (ts < prev_max)
        ok &= ~out_of_order
        self.stats.dropped_malformed += int(malformed.sum())
        self.stats.dropped_unknown += int(unknown.sum())
        self.stats.dropped_out_of_order += int(out_of_order.sum())
        self.ts, self.inst = ts[ok], inst[ok].astype(np.uint16)
        self.cols = {c: v[ok] for c, v in cols.items()}
        self.total = int(ok.sum())
        self._pos = min(start_after, self.total)
        self._origin_mono = mono_ns()
        self._origin_ts = int(self.ts[self._pos]) if self._pos < self.total else 0

    def _paced_end(self, end: int, timeout_s: float) -> int:
        """Last index (exclusive) whose recorded time has come, waiting up to timeout_s for one."""
        if self.speed <= 0:
            return end
        deadline = time.monotonic() + timeout_s
        while True:
            market_now = self._origin_ts + (mono_ns() - self._origin_mono) * self.speed
            due = int(np.searchsorted(self.ts, market_now, side="right"))
            if due > self._pos:
                return min(end, due)
            wait = (int(self.ts[self._pos]) - market_now) / self.speed / 1e9
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
