"""The price path a report draws trades on: recorded ticks when the run kept them, else the fills.

A run directory holds no tick history by default. When the run's config names a tick file that exists
(`feed.record_path`, or `feed.replay.path` for a replay run; format in feed/replayfile.py) the path is
read from it: only the time, instrument and price columns, only the wanted symbols, only the run's
market-time window (a record file is appended to, so it may hold earlier sessions), thinned by stride
to a few thousand points a symbol. Otherwise the path joins the fill prices, ending at the final
`last_price` of positions.json. The file is read here rather than through feed's reader because a stage
never imports another stage; its times are parsed by the same code (common/replaycolumns.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from common.replaycolumns import timestamps, to_int

MAX_POINTS = 4000


@dataclass
class PricePath:
    symbol: str
    ts_ns: np.ndarray    # market time, epoch ns UTC
    price: np.ndarray
    from_ticks: bool     # True: recorded ticks; False: joined fill prices


def tick_file(config: dict, run_dir: str) -> str | None:
    """The existing tick file this run's config names, or None."""
    feed = config.get("feed") or {}
    candidates = [feed.get("record_path")]
    if feed.get("source") == "replay":
        candidates.append((feed.get("replay") or {}).get("path"))
    for path in filter(None, candidates):
        for where in (path, os.path.join(run_dir, path)):
            if os.path.isfile(where):
                return where
    return None


def _read_columns(path: str):
    """The table with only the columns a price path needs (all as the file stores them)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    wanted = ("ts_event_ns", "ts", "symbol", "token", "price")
    if path.lower().endswith((".parquet", ".pq")):
        names = pq.read_schema(path).names
        return pq.read_table(path, columns=[c for c in wanted if c in names])
    with open(path, "rb") as f:
        names = [c.strip() for c in f.readline().decode().split(",")]
    columns = [c for c in wanted if c in names]
    # Everything as text: one malformed number must cost its row, not the whole path.
    opts = pacsv.ConvertOptions(include_columns=columns, column_types={c: pa.string() for c in columns})
    return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
                          convert_options=opts)


def _numbers(col, pattern: str, to, missing):
    """A column as numbers; values that are not numbers (only possible in a CSV's text) become `missing`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        text = pc.utf8_trim_whitespace(col)
        col = pc.if_else(pc.fill_null(pc.match_substring_regex(text, pattern), False), text, None)
    return pc.cast(col, to, safe=False).fill_null(missing).to_numpy(zero_copy_only=False)


def _symbols(table, config: dict) -> np.ndarray:
    import pyarrow.compute as pc

    if "symbol" in table.column_names:
        # Dictionary-encoded, so the prefix is cut once per distinct symbol rather than once per row.
        encoded = pc.dictionary_encode(table.column("symbol")).combine_chunks()
        names = [str(s).rsplit(":", 1)[-1] for s in encoded.dictionary.to_pylist()] + [""]
        codes = encoded.indices.fill_null(len(names) - 1).to_numpy(zero_copy_only=False)
        return np.asarray(names, dtype=object)[codes]
    by_token = {int(i["token"]): i.get("symbol", "") for i in config.get("instruments", []) if "token" in i}
    return np.array([by_token.get(int(t), "") for t in to_int(table.column("token")).tolist()], dtype=object)


def _thin(ts: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(ts) <= MAX_POINTS:
        return ts, price
    keep = np.unique(np.append(np.arange(0, len(ts), -(-len(ts) // MAX_POINTS)), len(ts) - 1))
    return ts[keep], price[keep]


def from_tick_file(path: str, config: dict, symbols: list[str], window: tuple[int, int]) -> dict[str, PricePath]:
    """Paths for `symbols` within the market-time `window` (inclusive; 0 = open end)."""
    import pyarrow as pa

    table = _read_columns(path)
    ts = timestamps(table)
    price = _numbers(table.column("price"), r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", pa.float64(), np.nan)
    sym = _symbols(table, config)
    lo, hi = window
    ok = (ts > 0) & np.isfinite(price) & (price > 0) & (ts >= lo) & ((ts <= hi) if hi else True)
    paths = {}
    for s in symbols:
        mask = ok & (sym == s)
        if mask.any():
            order = np.argsort(ts[mask], kind="stable")
            paths[s] = PricePath(s, *_thin(ts[mask][order], price[mask][order]), from_ticks=True)
    return paths


def from_fills(fills: list, symbol: str, end_ns: int, last_price: float) -> PricePath:
    ts = [f.ts_event_ns for f in fills if f.symbol == symbol]
    price = [f.price for f in fills if f.symbol == symbol]
    if last_price > 0 and ts and end_ns > ts[-1]:
        ts.append(end_ns)
        price.append(last_price)
    return PricePath(symbol, np.asarray(ts, dtype=np.int64), np.asarray(price, dtype=np.float64), from_ticks=False)


def price_paths(inputs, symbols: list[str], last_prices: dict[str, float]) -> tuple[dict[str, PricePath], str]:
    """A path per symbol and a sentence saying where the prices came from."""
    import pyarrow as pa

    fills = inputs.fills
    start, end = inputs.first_event_ns, inputs.last_event_ns   # every journal record's time, fills included
    path = tick_file(inputs.config, inputs.run_dir)
    paths, note = {}, "price line joins the fill prices and the final last price (no tick file was recorded)"
    if path is not None:
        try:
            paths = from_tick_file(path, inputs.config, symbols, (start, end))
            note = f"price line from the recorded ticks in {path}"
        except (OSError, ValueError, KeyError, pa.lib.ArrowException) as e:
            note = f"price line joins the fill prices: the tick file {path} could not be read ({e})"
    for s in symbols:
        if s not in paths:
            paths[s] = from_fills(fills, s, end, last_prices.get(s, 0.0))
    return paths, note
