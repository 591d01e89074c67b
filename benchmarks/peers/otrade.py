"""OTrade in the peers benchmark: the real supervisor and its four stages, on the session every peer
uses.

- Replay throughput: the session file at speed 0 (benchmarks.pipeline.replay_run): end to end is
  supervisor `running` → the exit of orders, the last stage to apply every tick, stop included.
- Tick → order at live pace: the replay source at speed 1.0 over the live prefix (the session's
  first live_seconds × 2,000 ticks, stamped at 2,000 ticks/s), so the live ticks are the peers' live
  ticks too. The figure is orders' own histogram (tick received by the feed → entry order handed to
  the broker; log-linear buckets reported at their upper edges, up to 6 % high).
- The strategy is the peers' crossover params, given explicitly. The risk limits are lifted
  (LIFTED_RISK) so that, like every peer, OTrade places an order for every intent: with its defaults
  (50 open orders, 10 orders/s) a session this dense has almost every intent denied, and the figures
  would compare a pipeline that mostly says no with ones that trade. Everything else is OTrade's
  default configuration, so each intent is a bracket — entry, then stop and target legs — every
  event journaled before the broker hears of it: more work per intent than any peer does. The counts
  say so.
"""

from __future__ import annotations

import time

from benchmarks.harness import SupervisedRun, merge, new_run_id
from benchmarks.peers.result import make_entry
from benchmarks.pipeline import (
    base_config,
    counters,
    outcome,
    replay_run,
    stage_latencies,
    wall_minus_mono,
)

LIVE_EXTRA_S = 180.0    # startup, stop and the run report on top of the paced replay itself
LIFTED_RISK = {
    "max_open_orders": 1_000_000,
    "rate_per_sec": 1_000_000,
    "rate_per_min": 10_000_000,
    "ops_threshold": 1_250_000,  # the per-exchange second (less its 20 % margin) too
    "rate_per_day": 100_000_000,
    "max_position_qty": 1_000_000,
    "max_order_qty": 1_000_000,
    "max_gross_exposure_inr": 1e15,
    "max_order_notional_inr": 1e15,
    "daily_loss_limit_inr": 1e15,
    # the default config's one open bracket per strategy and instrument (BRACKET_OPEN) would deny
    # most crossovers: the peers place every intent
    "max_brackets_per_instrument": 0,
}


def strategies(params: dict) -> list[dict]:
    return [{"name": "mac", "kind": "ma_crossover", "params": dict(params)}]


def live_run(session) -> dict:
    config = merge(base_config(session.instruments), {
        "feed": {"source": "replay", "replay": {"path": session.live_path, "speed": 1.0}},
        "strategies": strategies(session.params), "risk": LIFTED_RISK})
    before = wall_minus_mono()
    with SupervisedRun(session.workdir, config, run_id=new_run_id(session.run_id_prefix)) as run:
        run.wait_exit(session.live_seconds + LIVE_EXTRA_S)
    after = wall_minus_mono()
    return {"latency": stage_latencies(run, (before + after) // 2), **outcome(run, run.events()),
            "counters": counters(run), "leaked": run.leaked}


def measure(session) -> dict:
    started = time.monotonic()
    replay = replay_run(
        session.workdir,
        session.instruments,
        session.path,
        new_run_id(session.run_id_prefix),
        strategies(session.params),
        risk=LIFTED_RISK,
    )
    live = live_run(session)
    return {"replay": replay, "live": live, "wall_s": round(time.monotonic() - started, 1)}


def entry(detail: dict) -> dict:
    replay, live = detail["replay"], detail["live"]
    signals, orders = replay["counters"].get("signals", {}), replay["counters"].get("orders", {})
    entries = replay["latency"]["tick_to_order"].get("count", 0)
    live_orders = live["counters"].get("orders", {})
    troubles = [
        f"{name} exit {r['exit_code']} ({r['reason']})"
        for name, r in (("replay", replay), ("live", live))
        if r["exit_code"] != 0 or r["unexpected_events"] or r["leaked"]
    ]
    note = (
        "supervisor + 4 stages; replay: running → orders exit; risk limits lifted, "
        f"{orders.get('denials', 0)} of "
        f"{signals.get('intents', 0)} intents denied, {orders.get('orders', 0)} orders incl. "
        f"bracket legs; live: replay source at speed 1.0, {live_orders.get('intents', 0)} "
        f"intents, {live_orders.get('denials', 0)} denied; latency from stage histograms (≤ 6 % "
        "high)"
    )
    if troubles:
        note += "; TROUBLE: " + ", ".join(troubles)
    return make_entry(
        replay["throughput"].get("end_to_end_ticks_per_s"),
        live["latency"]["tick_to_order"],
        signals.get("intents"),
        entries,
        note,
    )


def ticks_applied(detail: dict) -> dict:
    """Ticks each stage applied, per run: what the tests check against the session's length."""
    return {name: {stage: c.get("ticks") for stage, c in detail[name]["counters"].items()}
            for name in ("replay", "live")}
