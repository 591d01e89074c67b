"""The history directory: one Parquet file per (interval, symbol, IST day), written atomically.

    DIR/interval=minute/symbol=SBIN/date=2024-01-02/candles.parquet
    DIR/interval=minute/symbol=SBIN/empty_days.json      days the broker had no candle for

Hive-style `key=value` directories, so `pyarrow.dataset` (and pandas, polars, DuckDB) read DIR as
one partitioned table. A file holds one IST session's candles sorted by time: ts_event_ns (int64,
UTC candle start), open, high, low, close (float64 rupees), volume, oi (int64); its schema metadata
says which broker, instrument key and interval it came from.

Atomic: each file is written whole to a temporary in its directory, fsync'd and renamed into place
(common/atomicfile.py), so a crash or a refused token never leaves half a file: a day is on disk
complete or not at all. That is also what resume relies on: a day is done when its file exists or
it is listed in empty_days.json (a holiday or weekend: recorded, so it is not asked for again on
every rerun); a download with --oi also refetches days stored without open interest. Delete a
day's directory to fetch it again, or empty_days.json to ask again for the days listed there.
"""

from __future__ import annotations

import datetime as dt
import os
import re

import orjson

from common.atomicfile import read_object, write_atomic

FILE = "candles.parquet"
EMPTY = "empty_days.json"
_SAFE_SYMBOL = re.compile(r"[A-Za-z0-9&_.\-]{1,32}")
SCHEMA_FIELDS = ("ts_event_ns", "open", "high", "low", "close", "volume", "oi")


def check_symbol(symbol: str) -> str:
    """The symbol if it can name a directory (a trading symbol); ValueError otherwise."""
    if not _SAFE_SYMBOL.fullmatch(symbol or ""):
        raise ValueError(f"{symbol!r} is not a trading symbol (1-32 of A-Z a-z 0-9 & _ . -)")
    return symbol


class HistoryStore:
    def __init__(self, root: str, interval: str):
        self.root, self.interval = root, interval

    def symbol_dir(self, symbol: str) -> str:
        return os.path.join(
            self.root, f"interval={self.interval}", f"symbol={check_symbol(symbol)}"
        )

    def day_path(self, symbol: str, day: dt.date) -> str:
        return os.path.join(self.symbol_dir(symbol), f"date={day.isoformat()}", FILE)

    def written_days(self, symbol: str) -> set[dt.date]:
        found = set()
        base = self.symbol_dir(symbol)
        for name in os.listdir(base) if os.path.isdir(base) else ():
            if name.startswith("date=") and os.path.isfile(os.path.join(base, name, FILE)):
                try:
                    found.add(dt.date.fromisoformat(name[5:]))
                except ValueError:
                    continue        # not ours: ignored, never deleted
        return found

    def empty_days(self, symbol: str) -> set[dt.date]:
        listed = read_object(os.path.join(self.symbol_dir(symbol), EMPTY)).get("days", [])
        out = set()
        for text in listed if isinstance(listed, list) else []:
            try:
                out.add(dt.date.fromisoformat(text))
            except (TypeError, ValueError):
                continue
        return out

    def has_oi(self, symbol: str, day: dt.date) -> bool:
        """Whether that day's file was fetched with open interest (its schema metadata says)."""
        import pyarrow.parquet as pq

        meta = pq.read_schema(self.day_path(symbol, day)).metadata or {}
        return meta.get(b"otrade_oi") == b"1"

    def done_days(self, symbol: str, need_oi: bool = False) -> set[dt.date]:
        """Days not to fetch again: on disk (with oi, when `need_oi`) or known to be empty."""
        written = self.written_days(symbol)
        if need_oi:
            written = {d for d in written if self.has_oi(symbol, d)}
        return written | self.empty_days(symbol)

    def write_day(self, symbol: str, day: dt.date, columns: dict, meta: dict) -> None:
        """One day's candles (candles.parse columns) as its Parquet file, atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "ts_event_ns": columns["ts_ns"],
                "open": columns["open"],
                "high": columns["high"],
                "low": columns["low"],
                "close": columns["close"],
                "volume": columns["volume"],
                "oi": columns["oi"],
            }
        )
        table = table.replace_schema_metadata({f"otrade_{k}": str(v) for k, v in meta.items()})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        path = self.day_path(symbol, day)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, sink.getvalue().to_pybytes())

    def add_empty(self, symbol: str, days) -> None:
        """Record days the broker answered with no candle, so a rerun does not ask again."""
        days = set(days)
        if not days:
            return
        merged = sorted(d.isoformat() for d in self.empty_days(symbol) | days)
        os.makedirs(self.symbol_dir(symbol), exist_ok=True)
        write_atomic(os.path.join(self.symbol_dir(symbol), EMPTY), orjson.dumps({"days": merged}))
