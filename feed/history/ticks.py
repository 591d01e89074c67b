"""A history directory → a replay file (feed/replayfile.py), each candle expanded into four ticks.

    python -m feed.history to-replay DIR --out FILE.parquet [--interval minute]
        [--symbols A B] [--from D] [--to D]

The file is an ordinary replay file, so the replay feed (feed/sources/replay.py), the pipeline
(`python supervisor.py` with feed.source "replay") and the backtest (`python -m backtest`) read it
with no change of theirs.

Why ticks and not bars: everything downstream of the feed works on ticks. The tick ring carries one
price a row (common/dtypes.TICK_DTYPE), the signal kernels update on each price, and the paper
broker fills and triggers brackets on each tick. Replaying bars as bars would need a bar row in the
ring and every consumer taught to read it; four ticks per candle need nothing, and they pass through
the extremes, so a stop or target that the candle reached is triggered as it would have been.

The rule (deterministic: the same directory always gives the same file, tick for tick):
- A candle starting at t and lasting L gives ticks at t, t+L/4, t+L/2, t+3L/4, so every tick stays
  inside its own candle and the ticks of consecutive candles never cross. A day candle (its time
  is midnight IST) is placed on the NSE session, 09:15 for 375 minutes.
- Prices: open, then the NEARER extreme, then the farther one, then close: O→H→L→C when the high is
  closer to the open than the low, O→L→H→C when the low is; a tie goes by the candle's direction
  (an up candle O→L→H→C, a down or flat one O→H→L→C). Prices move continuously, so the extreme near
  the open is the likelier one to have come first; NautilusTrader's "adaptive" bar execution orders
  the extremes the same way. It is still an assumption: when one candle holds both a bracket's stop
  and its target, which filled first is this rule's guess (use minute candles for intraday rules).
- qty: the candle's volume split evenly over its four ticks, the remainder on the close tick;
  volume: the running total of the symbol's IST day; oi: the candle's, on all four; bid/ask 0.
Rows are sorted by time (then symbol, then position in the candle).
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np

from common.clock import IST_OFFSET_NS
from feed.history.plan import INTERVAL_S
from feed.history.store import HistoryStore

NS = 1_000_000_000
SESSION_OPEN_S = 9 * 3600 + 15 * 60          # a day candle is placed on 09:15-15:30 IST
SESSION_S = 375 * 60


class NoHistory(ValueError):
    """Nothing to convert (no directory for the interval, no day in the window)."""


def read_days(root: str, interval: str, symbols=None, first: dt.date | None = None,
              last: dt.date | None = None) -> list[tuple[str, object]]:
    """(symbol, pyarrow table) of every stored day in the window, by symbol then day."""
    import pyarrow.parquet as pq

    base = os.path.join(root, f"interval={interval}")
    if not os.path.isdir(base):
        raise NoHistory(f"{root} holds no {interval} candles (no {base})")
    store, out = HistoryStore(root, interval), []
    names = sorted(n[7:] for n in os.listdir(base) if n.startswith("symbol="))
    for symbol in names if symbols is None else [s for s in names if s in set(symbols)]:
        for day in sorted(store.written_days(symbol)):
            if (first is None or day >= first) and (last is None or day <= last):
                out.append((symbol, pq.read_table(store.day_path(symbol, day))))
    if not out:
        raise NoHistory(f"{base} holds no day for these symbols in the window")
    return out


def _path(o, h, lo, c) -> np.ndarray:
    """(n, 4) prices in the order the rule above visits them."""
    high_first = (h - o < o - lo) | ((h - o == o - lo) & (c < o))
    second, third = np.where(high_first, h, lo), np.where(high_first, lo, h)
    return np.stack([o, second, third, c], axis=1)


def expand(symbol: str, table, interval: str) -> dict:
    """One day's candles (a store table) → that day's ticks, as replay columns."""
    ts = table.column("ts_event_ns").to_numpy().astype(np.int64)
    cols = {k: table.column(k).to_numpy() for k in ("open", "high", "low", "close", "volume", "oi")}
    if interval == "day":
        ist_midnight = (ts + IST_OFFSET_NS) // (86400 * NS) * (86400 * NS) - IST_OFFSET_NS
        start, length = ist_midnight + SESSION_OPEN_S * NS, SESSION_S * NS
    else:
        start, length = ts, INTERVAL_S[interval] * NS
    times = start[:, None] + (np.arange(4, dtype=np.int64) * (length // 4))[None, :]
    prices = _path(cols["open"], cols["high"], cols["low"], cols["close"])
    volume = cols["volume"].astype(np.int64)
    qty = np.repeat((volume // 4)[:, None], 4, axis=1)
    qty[:, 3] += volume % 4
    return {
        "ts_event_ns": times.ravel(),
        "price": prices.ravel(),
        "qty": qty.ravel(),
        "volume": np.cumsum(qty.ravel()),
        "oi": np.repeat(cols["oi"].astype(np.int64), 4),
        "symbol": np.full(times.size, symbol, dtype=object),
        "slot": np.tile(np.arange(4), len(ts)),
    }


def to_replay(
    root: str, out: str, interval: str = "minute", symbols=None, first=None, last=None
) -> int:
    """Write the replay file `out` (.parquet or .csv) from the history under `root`; the tick
    count."""
    from feed.replayfile import write_ticks

    parts = [
        expand(symbol, table, interval)
        for symbol, table in read_days(root, interval, symbols, first, last)
    ]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((cols["slot"], cols["symbol"].astype(str), cols["ts_event_ns"]))
    # Written beside `out` and renamed over it: a reader never sees half a file. The extension is
    # kept, since it decides the format.
    directory, name = os.path.split(os.path.abspath(out))
    stem, ext = os.path.splitext(name)
    partial = os.path.join(directory, f".{stem}.partial{ext}")
    try:
        write_ticks(
            partial,
            cols["ts_event_ns"][order],
            cols["symbol"][order].tolist(),
            cols["price"][order],
            qty=cols["qty"][order],
            volume=cols["volume"][order],
            oi=cols["oi"][order],
        )
        os.replace(partial, out)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return int(len(order))

