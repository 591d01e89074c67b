"""Peer: NautilusTrader's BacktestEngine over the same session (nautiluscross.py has the backtest).

Optional: nautilus_trader is the `bench` extra (`pip install -e '.[bench]'`). Without it this peer
reports itself skipped and the others run. The backtest runs in a child process of its own (spawn),
so Nautilus' runtime (its logger, its Rust threads, a million tick objects) never lives in the
benchmark process that goes on to start other peers. A backtest has no live pace: it has no tick →
order latency, only replay throughput.
"""

from __future__ import annotations

import importlib.util
from concurrent.futures import ProcessPoolExecutor

from benchmarks.peers.processpipeline import context
from benchmarks.peers.result import make_entry, skipped_entry

SKIPPED = "nautilus_trader not installed: pip install -e '.[bench]'"
TIMEOUT_S = 1800.0


def installed() -> bool:
    return importlib.util.find_spec("nautilus_trader") is not None


def _backtest(path: str, instruments: list[dict], params: dict) -> dict:
    from benchmarks.peers.nautiluscross import backtest

    return backtest(path, instruments, params)


def measure(session) -> dict:
    if not installed():
        return {"skipped": SKIPPED}
    with ProcessPoolExecutor(max_workers=1, mp_context=context()) as pool:
        result = pool.submit(_backtest, session.path, session.instruments, session.params).result(
            TIMEOUT_S
        )
    return {"skipped": None, "replay": result}


def entry(detail: dict) -> dict:
    if detail["skipped"]:
        return skipped_entry(detail["skipped"])
    r = detail["replay"]
    note = (
        f"nautilus_trader {r['version']} BacktestEngine, 50 TickEMACross on TradeTicks; "
        "engine.run() only "
        f"(loading {r['load_s']} s apart); EMA seeded with the first price; {r['denied']} orders "
        "denied by "
        f"its risk engine, {r['filled']} filled; no live latency (a backtest)"
    )
    return make_entry(r["ticks_per_s"], None, r["intents"], r["orders"], note)
