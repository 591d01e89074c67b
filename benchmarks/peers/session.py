"""The shared inputs of one peers run: the session file, its ticks, the live prefix, the strategy.

`prepare` writes the session once (benchmarks.pipeline's universe and generator), loads it for the
peers, cuts the live prefix (live_seconds × 2,000 ticks: the file is stamped at that rate) and
writes that prefix as a file of its own for OTrade's paced replay. It also runs the plain-Python
reference strategy over both, so each system's intent count can be checked against what the ticks
call for.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from benchmarks.peers.strategy import reference_signals
from benchmarks.peers.ticks import SessionTicks, load, write_prefix
from benchmarks.pipeline import LIVE_RATE_HZ, universe, write_session


def strategy_params() -> dict:
    """OTrade's default crossover (config/schema.py MACrossoverParams), the part every system
    shares."""
    from config.schema import MACrossoverParams

    defaults = MACrossoverParams()
    return {name: getattr(defaults, name) for name in ("fast", "slow", "ma", "qty", "allow_short")}


@dataclass(frozen=True)
class Session:
    workdir: str
    instruments: list[dict]
    path: str               # the session's replay file
    live_path: str          # its first live_seconds × 2,000 ticks
    ticks: SessionTicks
    live: SessionTicks
    live_seconds: float
    params: dict
    run_id_prefix: str
    generate_s: float
    # Intents the reference strategy raises: {"replay": n, "live": n}; *_first_seed: EMA seeded with
    # the first price, as NautilusTrader's ExponentialMovingAverage is.
    reference: dict


def count_intents(ticks: SessionTicks, n_live: int, params: dict, seed: str) -> dict:
    signals = reference_signals(ticks.instrument, ticks.price, params, seed=seed)
    return {
        "replay": int(np.count_nonzero(signals)),
        "live": int(np.count_nonzero(signals[:n_live])),
    }


def prepare(workdir: str, n_ticks: int, live_seconds: float, run_id_prefix: str) -> Session:
    instruments = universe()
    path, live_path = (
        os.path.join(workdir, "session.parquet"),
        os.path.join(workdir, "live.parquet"),
    )
    started = time.monotonic()
    write_session(path, instruments, n_ticks)
    ticks = load(path, instruments)
    n_live = min(len(ticks), int(round(live_seconds * LIVE_RATE_HZ)))
    live = ticks.head(n_live)
    write_prefix(live_path, live)
    generate_s = round(time.monotonic() - started, 2)
    params = strategy_params()
    reference = count_intents(ticks, n_live, params, "sma")
    if params["ma"] == "ema":
        first = count_intents(ticks, n_live, params, "first")
        reference.update(replay_first_seed=first["replay"], live_first_seed=first["live"])
    return Session(
        workdir,
        instruments,
        path,
        live_path,
        ticks,
        live,
        live_seconds,
        params,
        run_id_prefix,
        generate_s,
        reference,
    )
