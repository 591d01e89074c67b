"""The price path a report draws trades on: recorded ticks when the run kept them, else the fills.

A run directory holds no tick history by default. When the run's config names a tick file that
exists (`feed.record_path`, or `feed.replay.path` for a replay run; format in feed/replayfile.py)
the path is read from it: only the time, instrument and price columns, only the wanted symbols, only
the run's market-time window (a record file is appended to, so it may hold earlier sessions),
thinned by stride to a few thousand points a symbol. Otherwise the path joins the fill prices,
ending at the final `last_price` of positions.json. The file is read by the same code as the replay
feed reads it (common/replaycolumns.py: text columns, times, prices, symbols), so both see the same
ticks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from common.replaycolumns import read_csv_text, symbol_codes, timestamps, to_float, to_int

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
    """The table with only the columns a price path needs (a CSV's as text:
    common/replaycolumns.py)."""
    import pyarrow.parquet as pq

    wanted = ("ts_event_ns", "ts", "symbol", "token", "price")
    if path.lower().endswith((".parquet", ".pq")):
        names = pq.read_schema(path).names
        return pq.read_table(path, columns=[c for c in wanted if c in names])
    return read_csv_text(path, wanted)[0]


def _symbols(table, config: dict) -> np.ndarray:
    if "symbol" in table.column_names:
        names, codes = symbol_codes(table.column("symbol"))
        return np.asarray(names + [""], dtype=object)[codes]
    by_token = {
        int(i["token"]): i.get("symbol", "") for i in config.get("instruments", []) if "token" in i
    }
    return np.array(
        [by_token.get(int(t), "") for t in to_int(table.column("token")).tolist()], dtype=object
    )


def _thin(ts: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(ts) <= MAX_POINTS:
        return ts, price
    keep = np.unique(np.append(np.arange(0, len(ts), -(-len(ts) // MAX_POINTS)), len(ts) - 1))
    return ts[keep], price[keep]


def from_tick_file(
    path: str, config: dict, symbols: list[str], window: tuple[int, int]
) -> dict[str, PricePath]:
    """Paths for `symbols` within the market-time `window` (inclusive; 0 = open end)."""
    table = _read_columns(path)
    ts = timestamps(table)
    price = to_float(table.column("price"))
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
    return PricePath(
        symbol,
        np.asarray(ts, dtype=np.int64),
        np.asarray(price, dtype=np.float64),
        from_ticks=False,
    )


def price_paths(
    inputs, symbols: list[str], last_prices: dict[str, float]
) -> tuple[dict[str, PricePath], str]:
    """A path per symbol and a sentence saying where the prices came from."""
    import pyarrow as pa

    fills = inputs.fills
    # every journal record's time, fills included
    start, end = inputs.first_event_ns, inputs.last_event_ns
    path = tick_file(inputs.config, inputs.run_dir)
    paths, note = (
        {},
        "price line joins the fill prices and the final last price (no tick file was recorded)",
    )
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
