"""The one session every system in the peers benchmark runs on, loaded once into numpy columns.

The session is a replay file (feed/replayfile.py's format) written by
benchmarks.pipeline.write_session. OTrade reads the file itself (its replay source); the peers get
these columns, so every system sees the same ticks in the same order. The live-pace runs use the
first `live_seconds × 2,000` ticks of the same session (`head`), and OTrade gets that prefix as a
file of its own (`write_prefix`), replayed at speed 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLUMNS = ("ts_event_ns", "price", "qty", "volume", "bid", "ask")


@dataclass(frozen=True)
class SessionTicks:
    """Per-instrument facts (universe order) and per-tick columns (file order)."""

    symbols: tuple[str, ...]
    tokens: np.ndarray        # Kite instrument token of each instrument
    tick_sizes: np.ndarray
    ref_prices: np.ndarray
    instrument: np.ndarray    # per tick: index into the universe
    ts_event_ns: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    volume: np.ndarray
    bid: np.ndarray
    ask: np.ndarray

    def __len__(self) -> int:
        return len(self.price)

    @property
    def token(self) -> np.ndarray:
        """Per tick: the instrument token (what a broker's feed carries)."""
        return self.tokens[self.instrument]

    def head(self, n: int) -> "SessionTicks":
        """The first `n` ticks of the session (the live-pace runs replay this prefix)."""
        cut = {name: getattr(self, name)[:n] for name in ("instrument", *COLUMNS)}
        return SessionTicks(self.symbols, self.tokens, self.tick_sizes, self.ref_prices, **cut)

    def columns(self) -> dict:
        """The per-tick columns a peer's feed needs, as plain arrays (picklable for a child
        process)."""
        return {"token": self.token, "price": self.price, "qty": self.qty, "volume": self.volume,
                "ts_event_ns": self.ts_event_ns}


def load(path: str, instruments: list[dict]) -> SessionTicks:
    """Read the replay file at `path`; `instruments` is the universe it was written for."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["symbol", *COLUMNS])
    encoded = pc.dictionary_encode(table.column("symbol")).combine_chunks()
    index = {inst["symbol"]: k for k, inst in enumerate(instruments)}
    mapping = np.array([index[name] for name in encoded.dictionary.to_pylist()], dtype=np.int64)
    cols = {c: table.column(c).to_numpy() for c in COLUMNS}
    return SessionTicks(
        symbols=tuple(inst["symbol"] for inst in instruments),
        tokens=np.array([inst["token"] for inst in instruments], dtype=np.int64),
        tick_sizes=np.array([inst["tick_size"] for inst in instruments], dtype=np.float64),
        ref_prices=np.array([inst["ref_price"] for inst in instruments], dtype=np.float64),
        instrument=mapping[encoded.indices.to_numpy()], **cols)


def write_prefix(path: str, ticks: SessionTicks) -> None:
    """`ticks` (a `head` of the session) as a replay file of its own, for OTrade's paced replay."""
    from feed.replayfile import write_ticks

    symbols = np.array(ticks.symbols, dtype=object)[ticks.instrument]
    write_ticks(
        path, ticks.ts_event_ns, symbols, ticks.price, ticks.qty, ticks.volume, ticks.bid, ticks.ask
    )
