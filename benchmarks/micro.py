"""Micro-benchmarks, in process: config load, the pre-trade risk check, intent → order at the
broker.

Each operation is timed alone with perf_counter_ns, many times, and reported as exact percentiles
(benchmarks.stats.summarize). The engine pieces run on benchmarks/engines.py's OrderDesk (the orders
engine wired as its stage wires it, over the 50-instrument benchmark universe):

- config load: `config.loader.load_config` of config/default.json, and of it with the prod overlay
  (config/env/prod.json: the Kite feed and broker, so placeholder credentials are passed in);
- risk check: `RiskGate.check`, what the engine calls for every intent (context gathering in Python
  — working entries, throttle counts, exposure — then the numba kernel), on an approved MARKET entry
  while ten brackets are open (twenty working exit orders); and `check_entry`, the kernel alone;
- handoff: an intent arriving at the engine with its tick → the order accepted by the paper broker:
  risk, the bracket's entry, every event stamped, journaled, flushed and published. Each round trip
  then fills and closes the bracket, so every sample starts from the same flat book.

The Kite frame decode, per frame, is the `feed` benchmark's.
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks import table
from benchmarks.engines import OrderDesk
from benchmarks.harness import scratch_dir
from benchmarks.stats import format_latency, summarize

SIZES = {False: {"config_loads": 2000, "risk_checks": 50_000, "round_trips": 4000},
         True: {"config_loads": 400, "risk_checks": 10_000, "round_trips": 800}}
WARMUP = 50
OPEN_BRACKETS = 10
PLACEHOLDER_CREDENTIALS = {"KITE_API_KEY": "bench-key", "KITE_ACCESS_TOKEN": "bench-token"}


def time_calls(fn, n: int, warmup: int = WARMUP) -> np.ndarray:
    for _ in range(warmup):
        fn()
    samples = np.empty(n, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(n):
        start = clock()
        fn()
        samples[i] = clock() - start
    return samples


def time_config_loads(n: int) -> dict:
    from config.loader import load_config

    default = time_calls(lambda: load_config(None, dotenv_path=None), n, warmup=5)
    prod = time_calls(
        lambda: load_config(None, "prod", environ=PLACEHOLDER_CREDENTIALS, dotenv_path=None),
        n,
        warmup=5,
    )
    return {"config_load_default": summarize(default), "config_load_prod": summarize(prod)}


def time_risk_checks(desk: OrderDesk, n: int) -> dict:
    from orders.risk import APPROVED, check_entry

    for k in range(OPEN_BRACKETS):
        desk.open_bracket(k)
    probe = OPEN_BRACKETS + 1
    desk.advance(probe, float(desk.prices[probe]))       # a fresh tick: not stale
    engine, intent = desk.engine, desk.intent(probe)
    gate, ex = engine.risk, engine.exposure

    def check():
        return gate.check(
            intent,
            duplicate=False,
            trading_state=engine.trading_state,
            phase=engine.limits.phase(ex.clock_ns),
            clock_ns=ex.clock_ns,
            book=engine.book,
            exposure=ex,
            throttle=engine.throttle,
        )

    code, _ = check()
    if code != APPROVED:
        raise RuntimeError(
            f"the probe intent was denied (code {code}): the benchmark must time an approval"
        )
    args = (
        engine.limits.params,
        gate._req,
        gate.tick_size,
        gate.lot_size,
        gate.freeze_qty,
        gate.circuit_lo,
        gate.circuit_hi,
        ex.last_price,
        ex.last_ts,
    )
    return {"risk_check": summarize(time_calls(check, n)),
            "risk_kernel": summarize(time_calls(lambda: check_entry(*args), n)),
            "working_orders": engine.book.n_working}


def time_handoffs(desk: OrderDesk, n: int) -> dict:
    instruments = len(desk.rows)
    for k in range(WARMUP):
        desk.round_trip(k % instruments)
    samples = np.array([desk.round_trip(k % instruments)[0] for k in range(n)], dtype=np.int64)
    desk.check_flat()
    return {"handoff": summarize(samples), "orders_at_broker": len(desk.broker.orders())}


def measure(config_loads: int, risk_checks: int, round_trips: int) -> dict:
    out = time_config_loads(config_loads)
    with scratch_dir() as tmp:
        with OrderDesk(tmp) as desk:
            out.update(time_handoffs(desk, round_trips))
        risk_dir = os.path.join(tmp, "risk")        # a desk of its own: a book with open brackets
        os.makedirs(risk_dir)
        with OrderDesk(risk_dir) as desk:
            out.update(time_risk_checks(desk, risk_checks))
    return out


LABELS = (
    ("config_load_default", "config load (default.json)"),
    ("config_load_prod", "config load (+ prod overlay)"),
    ("risk_check", "risk check (RiskGate.check)"),
    ("risk_kernel", "risk kernel (check_entry)"),
    ("handoff", "intent → order at paper broker"),
)


def run(quick: bool = False) -> dict:
    sizes = SIZES[quick]
    print(f"in process; samples: {sizes}")
    result = measure(**sizes)
    for key, label in LABELS:
        print(format_latency(label, result[key]))
    print(f"risk checked with {result['working_orders']} working orders; "
          f"{result['orders_at_broker']:,} orders reached the paper broker")
    return result


def table_rows(result: dict) -> list[dict]:
    notes = {"risk_check": f"{result.get('working_orders')} working orders",
             "handoff": "risk, journal+flush, PUB, paper place"}
    return [
        table.latency_row("micro", label, result.get(key), notes.get(key, ""))
        for key, label in LABELS
    ]
