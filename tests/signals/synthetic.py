"""Synthetic ticks, configs and engines for the signals tests (deterministic: every series is
seeded)."""

import numpy as np

from common.clock import IST_OFFSET_NS, NS_PER_S
from common.dtypes import FLAG_SNAPSHOT, INSTRUMENT_DTYPE, TICK_DTYPE
from config.schema import Config, InstrumentConfig, StrategyConfig
from signals.engine import SignalEngine
from signals.layout import aligned_buffer, segment_sizes

TICK = 0.05
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
# 2025-01-06 09:15 IST, as wall-clock ns.
SESSION_START_NS = 1736135100 * NS_PER_S


def ist_ns(days: int, hour: int, minute: int) -> int:
    """Wall-clock ns of HH:MM IST, `days` after 1970-01-01 IST."""
    return ((days * 86400 + hour * 3600 + minute * 60) * NS_PER_S) - IST_OFFSET_NS


def interleaved_ticks(n: int, instruments: int, seed: int, start_ns: int = SESSION_START_NS,
                      snapshot_share: float = 0.0, backstep_share: float = 0.0) -> np.ndarray:
    """n ticks over `instruments` random walks on the tick grid, instruments in random order."""
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, dtype=TICK_DTYPE)
    rows["seq"] = np.arange(1, n + 1)
    rows["instrument"] = rng.integers(0, instruments, n)
    steps = rng.integers(0, 1_500_000_000, n)
    steps[rng.random(n) < backstep_share] = -700_000_000
    rows["ts_event_ns"] = start_ns + np.cumsum(steps)
    rows["ts_recv_ns"] = rows["ts_event_ns"] + 2_000_000
    base = 100.0 * (1 + np.arange(instruments)) ** 1.5
    ticks = np.zeros(n)
    for k in range(instruments):
        at = rows["instrument"] == k
        walk = np.cumsum(rng.integers(-3, 4, at.sum()))
        ticks[at] = np.round(base[k] / TICK) + walk
    rows["price"] = ticks * TICK
    rows["qty"] = rng.integers(0, 500, n)
    rows["flags"] = np.where(rng.random(n) < snapshot_share, FLAG_SNAPSHOT, 0)
    return rows


def series_ticks(prices, instrument: int = 0, first_seq: int = 1, start_ns: int = SESSION_START_NS,
                 step_ns: int = 250_000_000, qty: int = 100) -> np.ndarray:
    """One instrument's ticks at the given prices."""
    prices = np.asarray(prices, dtype=np.float64)
    rows = np.zeros(len(prices), dtype=TICK_DTYPE)
    rows["seq"] = np.arange(first_seq, first_seq + len(prices))
    rows["ts_event_ns"] = start_ns + step_ns * np.arange(len(prices))
    rows["ts_recv_ns"] = rows["ts_event_ns"] + 1_000_000
    rows["price"] = prices
    rows["qty"] = qty
    rows["instrument"] = instrument
    return rows


def regime_prices(n: int, seed: int, start: float = 1000.0, regime: int = 400) -> np.ndarray:
    """Alternating trending and mean-reverting stretches on the tick grid (like the sim feed)."""
    rng = np.random.default_rng(seed)
    prices = np.empty(n)
    level = start / TICK
    anchor = level
    for i in range(n):
        stretch = (i // regime) % 4
        if stretch in (0, 2):
            drift = 1.5 if stretch == 0 else -1.5      # trend up, then down
            level += drift + rng.normal(0.0, 3.0)
        else:
            level += 0.08 * (anchor - level) + rng.normal(0.0, 3.0)  # revert to the anchor
        if stretch in (0, 2) and i % regime == regime - 1:
            anchor = level
        prices[i] = round(level) * TICK
    return prices


def make_config(*strategies: StrategyConfig, symbols=SYMBOLS) -> Config:
    instruments = tuple(
        InstrumentConfig(symbol=s, token=101 + k, tick_size=TICK, ref_price=100.0 * (k + 1))
        for k, s in enumerate(symbols)
    )
    return Config(instruments=instruments, strategies=strategies)


def instrument_table(config: Config) -> np.ndarray:
    rows = np.zeros(len(config.instruments), dtype=INSTRUMENT_DTYPE)
    for k, inst in enumerate(config.instruments):
        rows[k]["token"] = inst.token
        rows[k]["tick_size"] = inst.tick_size
        rows[k]["lot_size"] = inst.lot_size
        rows[k]["symbol"] = inst.symbol.encode()
        rows[k]["exchange"] = inst.exchange.encode()
    return rows


class Buffers:
    """Process-local stand-ins for the two segments the supervisor would create."""

    def __init__(self, config: Config):
        sizes = segment_sizes(config)
        self.state = aligned_buffer(sizes["signals_state"])
        self.outbox = aligned_buffer(sizes["signals_outbox"])

    def copy(self) -> "Buffers":
        twin = object.__new__(Buffers)
        twin.state = self.state.copy()
        twin.outbox = self.outbox.copy()
        return twin


def make_engine(
    config: Config, buffers: Buffers | None = None, **kwargs
) -> tuple[SignalEngine, Buffers]:
    buffers = buffers or Buffers(config)
    engine = SignalEngine(config, instrument_table(config), buffers.state, buffers.outbox, **kwargs)
    return engine, buffers


def drain(engine: SignalEngine) -> list[dict]:
    """What the stage does after process(): every pending intent as message fields, then ack."""
    pending = engine.pending_intents()
    fields = [engine.intent_fields(row) for row in pending]
    engine.ack(len(pending))
    return fields


def run_batches(engine: SignalEngine, rows: np.ndarray, batch: int) -> list[dict]:
    """Feed `rows` in batches of `batch` like the stage loop, draining after every call."""
    sent = []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        while len(chunk):
            consumed, _ = engine.process(chunk)
            sent += drain(engine)
            chunk = chunk[consumed:]
    return sent
