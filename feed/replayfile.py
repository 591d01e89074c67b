"""The replay file format (CSV or Parquet), shared by the replay source, the recorder and
generators.

Columns (header names; order does not matter, extra columns are ignored):

| column        | required | meaning                                                               |
|---------------|----------|-----------------------------------------------------------------------|
| `ts_event_ns` | one of   | exchange time, integer ns since the Unix epoch (UTC)                  |
| `ts`          | these    | or exchange time as IST text `YYYY-MM-DD HH:MM:SS[.ffffff]`, no zone: |
|               |          | the fraction has 1 to 9 digits (`.5` is half a second)                |
| `symbol`      | one of   | trading symbol, optionally with an exchange prefix (`NSE:SBIN`)       |
| `token`       | these    | or the broker instrument token (integer)                              |
| `price`       | yes      | last traded price, rupees                                             |
| `qty`         | no       | last traded quantity (default 0)                                      |
| `volume`      | no       | cumulative day volume (default 0)                                     |
| `bid`, `ask`  | no       | best bid / ask (default 0)                                            |
| `oi`          | no       | open interest (default 0)                                             |

A row with a missing or unparsable value is dropped and counted; a file without one of the required
columns, not UTF-8, empty, or without a single usable row is refused whole (config/replaycheck.py,
which `--check-config` runs). Ticks that parse but are not sane (a price far from the last one, a
time far ahead of the recording's clock) are dropped by the feed (feed/sanity.py).
"""

from __future__ import annotations

import os

import numpy as np

COLUMNS = ("ts_event_ns", "symbol", "price", "qty", "volume", "bid", "ask", "oi")


def detect_format(path: str, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    return "parquet" if path.lower().endswith((".parquet", ".pq")) else "csv"


def write_ticks(
    path: str,
    ts_event_ns,
    symbols,
    price,
    qty=None,
    volume=None,
    bid=None,
    ask=None,
    oi=None,
    fmt: str = "auto",
) -> None:
    """Write a replay file from column arrays (used by generators, tests and benchmarks)."""
    import pyarrow as pa

    n = len(price)
    zeros = np.zeros(n, dtype=np.int64)
    table = pa.table(
        {
            "ts_event_ns": np.asarray(ts_event_ns, dtype=np.int64),
            "symbol": pa.array(
                list(symbols) if not isinstance(symbols, pa.Array) else symbols, type=pa.string()
            ),
            "price": np.asarray(price, dtype=np.float64),
            "qty": np.asarray(qty if qty is not None else zeros, dtype=np.int64),
            "volume": np.asarray(volume if volume is not None else zeros, dtype=np.int64),
            "bid": np.asarray(bid if bid is not None else zeros, dtype=np.float64),
            "ask": np.asarray(ask if ask is not None else zeros, dtype=np.float64),
            "oi": np.asarray(oi if oi is not None else zeros, dtype=np.int64),
        }
    )
    if detect_format(path) == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)


class CsvAppender:
    """Appends ticks to a CSV replay file (the recorder): one write + flush per batch, header
    once."""

    def __init__(self, path: str, symbols: list[str]):
        self.symbols = np.asarray(symbols, dtype=object)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._f = open(path, "a", buffering=1 << 16)
        if new:
            self._f.write(",".join(COLUMNS) + "\n")

    def append(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        syms = self.symbols[rows["instrument"]]
        lines = [
            f"{t},{s},{p!r},{q},{v},{b!r},{a!r},{o}"
            for t, s, p, q, v, b, a, o in zip(
                rows["ts_event_ns"].tolist(),
                syms,
                rows["price"].tolist(),
                rows["qty"].tolist(),
                rows["volume"].tolist(),
                rows["bid"].tolist(),
                rows["ask"].tolist(),
                rows["oi"].tolist(),
            )
        ]
        self._f.write("\n".join(lines) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
