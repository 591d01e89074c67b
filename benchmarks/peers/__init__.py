"""Peers benchmark: OTrade and what a Python developer would build instead, in the same run, on the
same ticks.

`python -m benchmarks peers [--quick]`. One session file (benchmarks.pipeline's 50-instrument
universe, 1,000,000 ticks; 100,000 with --quick) and its first 20 s (4 s) at 2,000 ticks/s are run
by:

    otrade     the supervisor and its four stages (otrade.py)
    mp_queue   four processes on multiprocessing.Queue (mpqueue.py)
    pyzmq      the same four processes on pyzmq PUSH/PULL (zmqonly.py)
    kite_loop  one process, a KiteTicker on_ticks callback that does everything (kiteloop.py)
    nautilus   NautilusTrader's BacktestEngine, if the `bench` extra is installed (nautilus.py)
    backtest   OTrade's in-process backtest, `python -m backtest` (backtest.py): Nautilus'
               counterpart

Every system runs the same EMA crossover (OTrade's default: fast 10, slow 30, MARKET, qty 1, shorts
allowed) and reports its intent count next to what the plain-Python reference raises on those ticks,
so equal work is visible. Ratios are OTrade ÷ peer for replay throughput and live tick → order
(p50, p99). Targets (reported, not asserted): replay ≥ 10× mp_queue and ≥ 3× nautilus; tick → order
p50 ≤ 100 µs, p99 ≤ 300 µs at live pace; the in-process backtest ≥ 3× nautilus, and ≥ 2,000,000
ticks/s with a strategy that raises no intent (result["backtest"]). result.py has the shape of what
`run` returns.

Imports of the systems are inside the functions: the peers' stage processes import this package, and
should not pay for the supervisor harness or NautilusTrader.
"""

from __future__ import annotations

import importlib
import traceback

# (session ticks, live seconds), by --quick
SIZES = {False: (1_000_000, 20.0), True: (100_000, 4.0)}
MODULES = {"otrade": "benchmarks.peers.otrade", "mp_queue": "benchmarks.peers.mpqueue",
           "pyzmq": "benchmarks.peers.zmqonly", "kite_loop": "benchmarks.peers.kiteloop",
           "nautilus": "benchmarks.peers.nautilus", "backtest": "benchmarks.peers.backtest"}


def system(name: str):
    return importlib.import_module(MODULES[name])


def measure_raw(
    n_ticks: int, live_seconds: float, run_id_prefix: str = "bench", systems=tuple(MODULES)
) -> dict:
    """Every system's own figures (`details`), and the session they ran on."""
    from benchmarks.harness import scratch_dir
    from benchmarks.peers.result import print_entry
    from benchmarks.peers.session import prepare
    from benchmarks.pipeline import LIVE_RATE_HZ

    with scratch_dir() as tmp:
        session = prepare(tmp, n_ticks, live_seconds, run_id_prefix)
        print(
            f"session: {len(session.ticks):,} ticks over {len(session.instruments)} instruments, "
            "live prefix "
            f"{len(session.live):,} ticks at {LIVE_RATE_HZ:,}/s (written in {session.generate_s} "
            "s); "
            f"strategy {session.params}; reference intents {session.reference}"
        )
        details = {}
        for name in systems:
            details[name] = _measure_one(name, session)
            print_entry(name, entry_of(name, details[name]))
    return {
        "ticks": len(session.ticks),
        "instruments": len(session.instruments),
        "live_ticks": len(session.live),
        "live_rate_hz": LIVE_RATE_HZ,
        "live_seconds": float(live_seconds),
        "strategy": dict(session.params),
        "reference": session.reference,
        "details": details,
    }


def _measure_one(name: str, session) -> dict:
    try:
        return system(name).measure(session)
    except Exception as error:  # noqa: BLE001 - one system failing must not lose the others' figures
        traceback.print_exc()
        return {"failed": f"{type(error).__name__}: {error}"}


def entry_of(name: str, detail: dict) -> dict:
    from benchmarks.peers.result import skipped_entry

    return (
        skipped_entry(f"failed: {detail['failed']}")
        if "failed" in detail
        else system(name).entry(detail)
    )


def shape(raw: dict) -> dict:
    """The result every consumer reads (result.py): one entry per system and the ratios."""
    from benchmarks.peers.result import ratios, with_reference

    systems = {}
    for name, detail in raw["details"].items():
        first_seed = name == "nautilus" and "replay_first_seed" in raw["reference"]
        reference = raw["reference"]["replay_first_seed" if first_seed else "replay"]
        how = " (EMA seeded with the first price)" if first_seed else ""
        systems[name] = with_reference(entry_of(name, detail), reference, how)
    return {
        "ticks": raw["ticks"],
        "instruments": raw["instruments"],
        "live_rate_hz": raw["live_rate_hz"],
        "live_seconds": raw["live_seconds"],
        "strategy": raw["strategy"],
        "systems": systems,
        "ratios": ratios(systems),
        "backtest": backtest_figures(raw["details"], systems),
    }


def backtest_figures(details: dict, systems: dict) -> dict:
    """The in-process backtest against its own targets: no-intent ticks/s, and ÷ nautilus's
    ticks/s."""
    from benchmarks.peers.result import backtest_block

    detail = details.get("backtest") or {}
    quiet = (
        None if "failed" in detail or not detail else system("backtest").quiet_ticks_per_s(detail)
    )
    return backtest_block(systems, quiet)


def measure(
    n_ticks: int, live_seconds: float, run_id_prefix: str = "bench", systems=tuple(MODULES)
) -> dict:
    return shape(measure_raw(n_ticks, live_seconds, run_id_prefix, systems))


def table_rows(result: dict) -> list[dict]:
    from benchmarks.peers.result import table_rows as rows

    return rows(result)


def run(quick: bool = False) -> dict:
    from benchmarks.peers.result import print_summary

    n_ticks, seconds = SIZES[quick]
    result = measure(n_ticks, seconds)
    print_summary(result)
    return result
