"""Pipeline benchmark: the real supervisor and all four stages, end to end, at replay speed and at
live pace.

1. Replay, as fast as possible: a generated session of 1,000,000 ticks (100,000 with --quick) over a
   50-instrument universe (`universe()`) is replayed at speed 0 with the default strategy. The feed
   publishes into a lossless ring (it waits for signals and orders), so the feed's rate is the
   pipeline's rate to within one ring (65,536 ticks). Two throughputs, from supervisor.jsonl's `ts`:
   - feed: ticks published / (`running` → the feed's `exit` after it marked itself FINISHED);
   - end to end: ticks / (`running` → the `exit` of orders, the last consumer to apply every tick;
     this includes the stop of signals and orders: their drain, summaries and socket close).
   The feed starts publishing the moment it is READY; the supervisor sees that within its 2 ms poll
   and then logs `running` (`ready_to_running_ms` is the part of the gap after it saw it), so both
   rates are flattered by a few ms of publishing. When a run takes well under a second (the
   no-intent replay) the end-to-end time is mostly the stop ladder, and the rate is a lower bound.
2. The same file again with a strategy that never raises an intent: the per-tick ceiling, so the
   cost of intents (risk, orders, denials, journals) shows as the ratio between the two.
3. Live pace: the sim source at 2,000 ticks/s for ~20 s (~5 s with --quick) over the same universe.

Latencies come from the stages' own histograms (common/latency.py: log-linear buckets, upper bucket
edges, ≤ 6 % high), written at stop into signals.summary.json (tick received by the feed → applied
by every strategy; → intent handed to the bus) and orders.summary.json (→ entry order handed to the
broker). At replay speed they are queueing in a full ring, not hop latency. Nothing records fill or
position times in a histogram; order → fill is derived from the orders journal (both stamps are the
orders process's wall clock), and tick → fill from the intent's tick receive time (monotonic) plus
the wall−monotonic offset this process measures before and after the run. The paper broker fills on
a later tick of the instrument, so those two measure mostly the wait for that tick. Positions is not
timed. Targets (reported, not asserted): replay ≥ 1,000,000 ticks/s end to end; live tick → order
p50 ≤ 100 µs, p99 ≤ 300 µs; tick → signal p50 ≤ 5 µs.

The live run records each stage's cores and wait mode; the orders-spinning live run needs ≥ 4 usable
cores, else the result says why instead of a figure (benchmarks/placement.py).
"""

from __future__ import annotations

import os
import time

import msgspec
import numpy as np

from benchmarks import placement
from benchmarks.harness import SupervisedRun, default_config, merge, new_run_id, scratch_dir
from benchmarks.stats import format_latency, summarize

# (replay ticks, live seconds), by --quick
SIZES = {False: (1_000_000, 20.0), True: (100_000, 5.0)}
LIVE_RATE_HZ = 2000
TARGETS = {"replay_ticks_per_s": 1_000_000, "live_tick_to_order_p50_us": 100.0,
           "live_tick_to_order_p99_us": 300.0, "live_tick_to_signal_p50_us": 5.0}
REPLAY_TIMEOUT_S = 900.0
REPLAY_HEARTBEAT_TIMEOUT_MS = 600_000
# The same crossover with windows longer than any instrument's share of the session: it never raises
# an intent, so that replay measures the per-tick path alone (ring, signals' kernels, orders' tick
# loop).
QUIET_STRATEGIES = [
    {"name": "mac", "kind": "ma_crossover", "params": {"fast": 500_000, "slow": 1_000_000}}
]
SESSION_DATE = "2026-01-05"     # a Monday: the session rules see a trading day
# NSE tick sizes by price band (upper bound exclusive, ₹): the bands a 50-name universe is spread
# over.
TICK_BANDS = ((250.0, 0.01), (1000.0, 0.05), (5000.0, 0.10), (10000.0, 0.50), (20000.0, 1.00))


# -- the universe and its session ----------------------------------------------------------------
def tick_size_for(price: float) -> float:
    for upper, tick in TICK_BANDS:
        if price < upper:
            return tick
    return TICK_BANDS[-1][1]


def universe(n: int = 50, seed: int = 50) -> list[dict]:
    """`n` invented NSE equities spread evenly over the tick-size bands, prices log-uniform in each.

    Tokens follow Kite's layout (exchange_token << 8 | segment 1 = NSE), so they are unique and look
    like the real ones; prices are multiples of their tick size and keep clear of the band edges.
    """
    rng = np.random.default_rng(seed)
    lowers = [20.0] + [upper for upper, _ in TICK_BANDS[:-1]]
    out = []
    for i in range(n):
        band = i % len(TICK_BANDS)
        lo, hi = lowers[band] * 1.1, TICK_BANDS[band][0] * 0.9
        raw = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        tick = tick_size_for(raw)
        exchange_token = 60_001 + i
        price = round(round(raw / tick) * tick, 2)
        out.append({"symbol": f"BENCH{i + 1:02d}", "token": exchange_token << 8 | 1,
                    "exchange_token": exchange_token, "tick_size": tick, "ref_price": price})
    return out


def write_session(path: str, instruments: list[dict], n_ticks: int) -> None:
    """A replay file of `n_ticks` sim ticks over `instruments` (market time 09:15, 2,000
    ticks/s)."""
    from config.loader import load_config
    from feed.generate import generate
    from feed.replayfile import write_ticks

    config = load_config(None, overrides={"instruments": instruments}).config
    sim = msgspec.structs.replace(
        config.feed.sim,
        profile="stress",
        seed=2024,
        session_date=SESSION_DATE,
        start_time="09:15",
        tick_rate_hz=float(LIVE_RATE_HZ),
    )
    write_ticks(path, *generate(config.instruments, sim, n_ticks))


def base_config(instruments: list[dict]) -> dict:
    return merge(default_config(), {
        "instruments": instruments,
        "run": {"log_level": "WARNING"},
        "supervisor": {"dashboard": False},
    })


def replay_config(instruments: list[dict], path: str, strategies: list[dict] | None = None,
                  risk: dict | None = None) -> dict:
    # orders works through a backlog of ticks in one loop that does not heartbeat; at replay speed
    # with the default strategy that loop outlasts the default 1 s heartbeat timeout, the supervisor
    # kills it as hung five times and gives up (exit 3). This measures throughput, so the timeout is
    # lifted; `hangs` in the results counts any that still happen.
    over = {"feed": {"source": "replay", "replay": {"path": path, "speed": 0}},
            "supervisor": {"heartbeat_timeout_ms": REPLAY_HEARTBEAT_TIMEOUT_MS}}
    if strategies is not None:
        over["strategies"] = strategies
    if risk is not None:
        over["risk"] = risk
    return merge(base_config(instruments), over)


def live_config(instruments: list[dict]) -> dict:
    return merge(
        base_config(instruments),
        {
            "feed": {
                "source": "sim",
                "sim": {"tick_rate_hz": LIVE_RATE_HZ, "session_date": SESSION_DATE},
            }
        },
    )


# -- reading a finished run --------------------------------------------------------------------
def hist_us(summary: dict | None) -> dict:
    """A stage's histogram summary (ns, common.latency.summary_ns) in the µs shape of
    benchmarks.stats."""
    if not summary or not summary.get("count"):
        return {"count": 0}
    return {
        "count": summary["count"],
        "p50_us": round(summary["p50_ns"] / 1e3, 2),
        "p99_us": round(summary["p99_ns"] / 1e3, 2),
        "p99_9_us": round(summary["p999_ns"] / 1e3, 2),
        "max_us": round(summary["max_ns"] / 1e3, 2),
    }


def stage_latencies(run: SupervisedRun, wall_minus_mono_ns: int) -> dict:
    signals = run.read_json("signals.summary.json")
    orders = run.read_json("orders.summary.json")
    derived = fill_latencies(run, wall_minus_mono_ns)
    return {"tick_to_signal": hist_us(signals.get("tick_to_signal")),
            "tick_to_intent": hist_us(signals.get("tick_to_intent")),
            "tick_to_order": hist_us(orders.get("tick_to_order")),
            **derived}


def fill_latencies(run: SupervisedRun, wall_minus_mono_ns: int) -> dict:
    """Entry order handed to the broker → its first fill, and intent's tick → that fill, from
    journals."""
    tick_recv = {m["intent_id"]: m["ts_recv_ns"] for m in run.read_jsonl("signals.jsonl")
                 if m.get("type") == "SignalRaised"}
    submitted, order_to_fill, tick_to_fill = {}, [], []
    for m in run.read_jsonl("orders.jsonl"):
        kind = m.get("type")
        if kind == "OrderSubmitting" and m.get("role") == "ENTRY":
            submitted[m["client_order_id"]] = (m["ts_init_ns"], m["intent_id"])
        elif kind == "OrderFilled" and m["client_order_id"] in submitted:
            sent_ns, intent_id = submitted.pop(m["client_order_id"])
            order_to_fill.append(m["ts_init_ns"] - sent_ns)
            if intent_id in tick_recv:
                tick_to_fill.append(m["ts_init_ns"] - (tick_recv[intent_id] + wall_minus_mono_ns))
    return {"order_to_fill": summarize(order_to_fill), "tick_to_fill": summarize(tick_to_fill)}


def counters(run: SupervisedRun) -> dict:
    stages = run.read_json("summary.json").get("stages", {})
    return {name: s.get("counters", {}) for name, s in stages.items()}


def outcome(run: SupervisedRun, events: list[dict]) -> dict:
    """How the run ended: exit code, the supervisor's reason, and any give-up or restart on the
    way."""
    summary = run.read_json("summary.json")
    trouble = [e for e in events if e["kind"] in ("hang", "give_up", "restart_denied", "restart")]
    return {
        "exit_code": run.exit_code,
        "reason": summary.get("reason"),
        "unexpected_events": trouble,
    }


def _event(events: list[dict], kind: str, stage: str = "") -> dict | None:
    return next((e for e in events if e["kind"] == kind and e["stage"] == stage), None)


def replay_throughput(events: list[dict], ticks: int) -> dict:
    running, feed_ready = _event(events, "running"), _event(events, "ready", "feed")
    feed_exit, orders_exit = _event(events, "exit", "feed"), _event(events, "exit", "orders")
    if not (running and feed_ready and feed_exit and orders_exit):
        return {"error": "supervisor.jsonl lacks running / feed ready / feed exit / orders exit"}
    feed_s, end_s = feed_exit["ts"] - running["ts"], orders_exit["ts"] - running["ts"]
    return {"ticks": ticks, "feed_s": round(feed_s, 4), "end_to_end_s": round(end_s, 4),
            "feed_ticks_per_s": int(ticks / feed_s) if feed_s > 0 else None,
            "end_to_end_ticks_per_s": int(ticks / end_s) if end_s > 0 else None,
            "ready_to_running_ms": round((running["ts"] - feed_ready["ts"]) * 1e3, 2),
            "feed_exit_code": feed_exit.get("exit_code")}


# -- the three runs ----------------------------------------------------------------------------
def wall_minus_mono() -> int:
    return time.time_ns() - time.perf_counter_ns()


def replay_run(tmp: str, instruments: list[dict], path: str, run_id: str, strategies=None,
               risk: dict | None = None) -> dict:
    offset_before = wall_minus_mono()
    with SupervisedRun(
        tmp, replay_config(instruments, path, strategies, risk), run_id=run_id
    ) as run:
        run.wait_exit(REPLAY_TIMEOUT_S)
    offset_after = wall_minus_mono()
    counts, events = counters(run), run.events()
    ticks = int(counts.get("feed", {}).get("ticks", 0))
    return {"instruments": len(instruments), "throughput": replay_throughput(events, ticks),
            "latency": stage_latencies(run, (offset_before + offset_after) // 2),
            "clock_offset_drift_us": round(abs(offset_after - offset_before) / 1e3, 1),
            "hangs": sum(e["kind"] == "hang" for e in events), **outcome(run, events),
            "counters": counts, "leaked": run.leaked}


def live_run(tmp: str, instruments: list[dict], seconds: float, run_id: str,
             over: dict | None = None) -> dict:
    config = merge(live_config(instruments), over or {})
    offset_before = wall_minus_mono()
    with SupervisedRun(tmp, config, run_id=run_id, args=("--duration", str(seconds))) as run:
        run.wait_exit(seconds + 180.0)
    offset_after = wall_minus_mono()
    return {"tick_rate_hz": LIVE_RATE_HZ, "seconds": seconds,
            "placement": placement.describe(config),
            "latency": stage_latencies(run, (offset_before + offset_after) // 2),
            "clock_offset_drift_us": round(abs(offset_after - offset_before) / 1e3, 1),
            **outcome(run, run.events()), "counters": counters(run), "leaked": run.leaked}


def measure(n_ticks: int, live_seconds: float, run_id_prefix: str = "bench") -> dict:
    """The replay (default strategy), the same replay with no intent raised, and the live-pace
    run."""
    instruments = universe()
    with scratch_dir() as tmp:
        path = os.path.join(tmp, "session.parquet")
        started = time.monotonic()
        write_session(path, instruments, n_ticks)
        generated_s = round(time.monotonic() - started, 2)
        replay = replay_run(tmp, instruments, path, new_run_id(run_id_prefix))
        quiet = replay_run(tmp, instruments, path, new_run_id(run_id_prefix), QUIET_STRATEGIES)
        live = live_run(tmp, instruments, live_seconds, new_run_id(run_id_prefix))
        spinning = placement.not_measurable(live["placement"]["usable_cores"]) or live_run(
            tmp, instruments, live_seconds, new_run_id(run_id_prefix), placement.SPINNING_ORDERS)
    return {"targets": TARGETS, "n_ticks": n_ticks, "generate_s": generated_s, "replay": replay,
            "replay_no_intents": quiet, "live": live, "live_orders_spinning": spinning}


# -- printing ----------------------------------------------------------------------------------
LATENCY_LABELS = (
    ("tick_to_signal", "tick → signal (all strategies)"),
    ("tick_to_intent", "tick → intent sent"),
    ("tick_to_order", "tick → entry order at broker"),
    ("order_to_fill", "order → fill (paper)*"),
    ("tick_to_fill", "tick → fill (paper)*"),
)


def print_latencies(latency: dict) -> None:
    for key, label in LATENCY_LABELS:
        print("  " + format_latency(label, latency[key]))


def print_replay(title: str, r: dict) -> None:
    t, c = r["throughput"], r["counters"]
    print(f"{title}: exit code {r['exit_code']} ({r['reason']}), killed as hung {r['hangs']}x")
    if "error" in t:
        print(f"  {t['error']}")
    else:
        print(
            f"  feed        {t['feed_ticks_per_s']:>12,} ticks/s  (running → feed exit, "
            f"{t['feed_s']} s)"
        )
        print(f"  end to end  {t['end_to_end_ticks_per_s']:>12,} ticks/s  (running → orders exit, "
              f"{t['end_to_end_s']} s)   feed READY → running {t['ready_to_running_ms']} ms")
    print(
        f"  ticks applied: signals {c.get('signals', {}).get('ticks')}, orders "
        f"{c.get('orders', {}).get('ticks')}, "
        f"positions {c.get('positions', {}).get('ticks')}; intents "
        f"{c.get('signals', {}).get('intents')}, "
        f"orders {c.get('orders', {}).get('orders')}, fills {c.get('orders', {}).get('fills')}, "
        f"denials {c.get('orders', {}).get('denials')}"
    )
    print_latencies(r["latency"])


def print_live(r: dict) -> None:
    print(f"placement ({r['placement']['usable_cores']} usable cores): "
          f"{placement.label(r['placement'])}")
    c = r["counters"]
    print(
        f"live pace: sim {r['tick_rate_hz']:,} ticks/s for {r['seconds']:g} s; exit code "
        f"{r['exit_code']} "
        f"({r['reason']}); "
        f"ticks {c.get('feed', {}).get('ticks')}, intents {c.get('signals', {}).get('intents')}, "
        f"orders {c.get('orders', {}).get('orders')}, fills {c.get('orders', {}).get('fills')}"
    )
    print_latencies(r["latency"])


def print_verdicts(result: dict) -> None:
    tput = result["replay"]["throughput"].get("end_to_end_ticks_per_s") or 0
    live = result["live"]["latency"]
    checks = [
        (f"replay end to end {tput:,} ticks/s ≥ 1,000,000", tput >= TARGETS["replay_ticks_per_s"])
    ]
    for key, pct, target in (("tick_to_order", "p50_us", 100.0), ("tick_to_order", "p99_us", 300.0),
                             ("tick_to_signal", "p50_us", 5.0)):
        value = live[key].get(pct)
        checks.append(
            (
                f"live {key} {pct[:-3]} {value} µs ≤ {target:g} µs",
                value is not None and value <= target,
            )
        )
    for text, ok in checks:
        print(f"  {'meets ' if ok else 'MISSES'}  {text}")


def run(quick: bool = False) -> dict:
    n_ticks, seconds = SIZES[quick]
    result = measure(n_ticks, seconds)
    print(
        f"replay file: {n_ticks:,} sim ticks over 50 instruments (generated in "
        f"{result['generate_s']} s), "
        f"replayed at speed 0"
    )
    print_replay("replay, default strategy (ma_crossover 10/30)", result["replay"])
    print_replay(
        "replay, same file, no intent raised (per-tick ceiling)", result["replay_no_intents"]
    )
    print_live(result["live"])
    if isinstance(spinning := result["live_orders_spinning"], str):
        print(f"live pace, orders spinning (≥ {placement.SPINNERS_NEED_CORES} cores): {spinning}")
    else:
        print_live(spinning)
    print(
        "  * derived from journal stamps; the paper broker fills on a later tick, so mostly market "
        "wait"
    )
    print_verdicts(result)
    for name in ("replay", "replay_no_intents", "live", "live_orders_spinning"):
        if isinstance(result[name], dict):
            print(f"{name} leftovers: {result[name]['leaked'] or 'none'}")
    return result


def table_rows(result: dict) -> list[dict]:
    """The suite table's rows: replay throughputs (with and without intents) and live-pace
    latencies."""
    from benchmarks import table

    rows = []
    for name, label in (("replay", "replay end to end, default strategy"),
                        ("replay_no_intents", "replay end to end, no intent raised")):
        r = result[name]
        note = f"exit {r['exit_code']}" + (f", hung {r['hangs']}x" if r["hangs"] else "")
        rows.append(
            table.row(
                "pipeline",
                label,
                r["throughput"].get("end_to_end_ticks_per_s"),
                "ticks/s",
                f"{result['n_ticks']:,} ticks; feed "
                f"{table.format_value(r['throughput'].get('feed_ticks_per_s'))}/s; {note}",
            )
        )
    live = result["live"]
    for key, label in LATENCY_LABELS:
        rows.append(table.latency_row("pipeline", f"live {label}", live["latency"][key]))
    if "live_orders_spinning" in result:
        rows.append(placement.table_row(result["live_orders_spinning"]))
    return rows
