"""The result of the peers benchmark: one entry per system, the ratios, and the rows of the suite's
table.

Every system's entry has the same keys (`make_entry`); `ratios` divides OTrade's figure by each
peer's (throughput above 1: OTrade is faster; latency below 1: OTrade is faster). `table_rows`
flattens the result into the rows the benchmark suite prints as one table. Targets are reported,
never asserted.
"""

from __future__ import annotations

from benchmarks.stats import format_latency, ratio

SYSTEMS = ("otrade", "mp_queue", "pyzmq", "kite_loop", "nautilus", "backtest")
PEERS = SYSTEMS[1:]
TARGETS = {
    "replay_vs_mp_queue": 10.0,
    "replay_vs_nautilus": 3.0,
    "tick_to_order_p50_us": 100.0,
    "tick_to_order_p99_us": 300.0,
    "backtest_vs_nautilus": 3.0,
    "backtest_no_intent_ticks_per_s": 2_000_000,
}
LABELS = {
    "otrade": "OTrade",
    "mp_queue": "multiprocessing.Queue pipeline",
    "pyzmq": "pyzmq pipeline",
    "kite_loop": "Kite-style on_ticks loop",
    "nautilus": "NautilusTrader backtest",
    "backtest": "OTrade in-process backtest",
}
SHORT = {
    "otrade": "supervisor + 4 stages; journals, brackets, full risk",
    "mp_queue": "4 processes, pickled dict a tick",
    "pyzmq": "4 processes, PUSH/PULL ipc, orjson a tick",
    "kite_loop": "1 process, KiteTicker parse + on_ticks",
    "nautilus": "BacktestEngine on TradeTicks, engine.run()",
    "backtest": "python -m backtest: one process, same engines, brackets, journals",
}


def make_entry(
    replay_ticks_per_s, tick_to_order_us, intents, orders, note: str, skipped: str | None = None
) -> dict:
    """One system's figures; the latency is a benchmarks.stats.summarize dict (None: not
    measured)."""
    latency = None
    # plain numbers: the result goes to JSON
    if tick_to_order_us and tick_to_order_us.get("count"):
        latency = {k: int(v) if k == "count" else float(v) for k, v in tick_to_order_us.items()}
    return {
        "replay_ticks_per_s": round(float(replay_ticks_per_s), 1) if replay_ticks_per_s else None,
        "tick_to_order_us": latency,
        "intents": None if intents is None else int(intents),
        "orders": None if orders is None else int(orders),
        "skipped": skipped,
        "note": note,
    }


def with_reference(entry: dict, intents: int, how: str = "") -> dict:
    """`entry` with the reference strategy's intent count on the same ticks appended to its note."""
    if entry["skipped"]:
        return entry
    return dict(
        entry, note=f"{entry['note']}; reference strategy{how}: {intents} intents on these ticks"
    )


def skipped_entry(reason: str) -> dict:
    return make_entry(None, None, None, None, "skipped", skipped=reason)


def _p(entry: dict, key: str):
    latency = entry.get("tick_to_order_us")
    return latency.get(key) if latency else None


def _over(ours, theirs):
    return float(ratio(ours, theirs)) if ours is not None and theirs else None


def ratios(systems: dict) -> dict:
    if "otrade" not in systems:
        return {}
    ours = systems["otrade"]
    out = {}
    for peer in PEERS:
        if peer not in systems:
            continue
        theirs = systems[peer]
        out[peer] = {
            "replay_throughput": _over(ours["replay_ticks_per_s"], theirs["replay_ticks_per_s"]),
            "tick_to_order_p50": _over(_p(ours, "p50_us"), _p(theirs, "p50_us")),
            "tick_to_order_p99": _over(_p(ours, "p99_us"), _p(theirs, "p99_us")),
        }
    return out


def backtest_block(systems: dict, quiet_ticks_per_s) -> dict:
    """result["backtest"]: the in-process backtest's no-intent throughput and its replay ÷
    nautilus's (None: not measured, e.g. nautilus_trader not installed)."""
    ours, theirs = systems.get("backtest"), systems.get("nautilus")
    vs = (
        _over(ours["replay_ticks_per_s"], theirs["replay_ticks_per_s"]) if ours and theirs else None
    )
    return {"no_intent_ticks_per_s": quiet_ticks_per_s, "replay_vs_nautilus": vs}


def table_rows(result: dict) -> list[dict]:
    """One row per system metric and one per ratio: {benchmark, metric, value, unit, note}."""
    rows = []
    row = lambda metric, value, unit, note="": rows.append(   # noqa: E731
        {"benchmark": "peers", "metric": metric, "value": value, "unit": unit, "note": note})
    for name, entry in result["systems"].items():
        if entry["skipped"]:
            row(f"{name} replay throughput", None, "ticks/s", f"skipped: {entry['skipped']}")
            continue
        row(f"{name} replay throughput", entry["replay_ticks_per_s"], "ticks/s", SHORT[name])
        latency = entry["tick_to_order_us"]
        live = (
            f"n={latency['count']:,}, live {result['live_rate_hz']:,} ticks/s"
            if latency
            else "not applicable"
        )
        row(f"{name} tick → order p50", _p(entry, "p50_us"), "µs", live)
        row(f"{name} tick → order p99", _p(entry, "p99_us"), "µs", live)
        row(f"{name} intents", entry["intents"], "count", "whole session")
        row(f"{name} orders", entry["orders"], "count", "entry orders handed to the broker")
    for peer, r in result["ratios"].items():
        row(
            f"OTrade ÷ {peer} replay throughput",
            r["replay_throughput"],
            "×",
            "above 1: OTrade faster",
        )
        row(
            f"OTrade ÷ {peer} tick → order p50",
            r["tick_to_order_p50"],
            "×",
            "below 1: OTrade faster",
        )
        row(
            f"OTrade ÷ {peer} tick → order p99",
            r["tick_to_order_p99"],
            "×",
            "below 1: OTrade faster",
        )
    bt = result.get("backtest") or {}
    row(
        "backtest no-intent throughput",
        bt.get("no_intent_ticks_per_s"),
        "ticks/s",
        "strategy raising no intent",
    )
    row(
        "backtest ÷ nautilus replay throughput",
        bt.get("replay_vs_nautilus"),
        "×",
        "above 1: the in-process backtest faster"
        if bt.get("replay_vs_nautilus")
        else "not measured",
    )
    return rows


# -- printing ----------------------------------------------------------------------------------
def print_entry(name: str, entry: dict) -> None:
    if entry["skipped"]:
        print(f"{LABELS[name]}: skipped ({entry['skipped']})")
        return
    tps = entry["replay_ticks_per_s"]
    print(
        f"{LABELS[name]}: replay {tps:,.0f} ticks/s; intents {entry['intents']}, orders "
        f"{entry['orders']}"
        if tps
        else f"{LABELS[name]}: no replay figure; intents {entry['intents']}, orders "
            f"{entry['orders']}"
    )
    latency = entry["tick_to_order_us"]
    print(
        "  "
        + (
            format_latency("tick → order, live", latency)
            if latency
            else "tick → order: not measured"
        )
    )
    print(f"  {entry['note']}")


def print_summary(result: dict) -> None:
    print(
        "ratios, OTrade ÷ peer (throughput: above 1 is OTrade faster; latency: below 1 is OTrade "
        "faster):"
    )
    for peer, r in result["ratios"].items():
        cells = "  ".join(
            f"{key} {value if value is not None else 'n/a'}" for key, value in r.items()
        )
        print(f"  {peer:<10} {cells}")
    for text, ok in verdicts(result):
        print(f"  {'meets ' if ok else 'MISSES'}  {text}")
    if (
        "backtest" in result["systems"]
        and (result.get("backtest") or {}).get("replay_vs_nautilus") is None
    ):
        print(
            f"  not measured: backtest replay ÷ nautilus ≥ {TARGETS['backtest_vs_nautilus']:g}× "
            "(nautilus skipped or failed)"
        )


def verdicts(result: dict) -> list[tuple[str, bool]]:
    ours, r = result["systems"].get("otrade"), result["ratios"]
    checks: list[tuple[str, bool]] = []
    if ours is None:
        return checks
    for peer, key in (("mp_queue", "replay_vs_mp_queue"), ("nautilus", "replay_vs_nautilus")):
        entry = result["systems"].get(peer)
        if entry is None or entry["skipped"]:
            continue
        value = r[peer]["replay_throughput"]
        checks.append(
            (
                f"replay {value}× {peer} ≥ {TARGETS[key]:g}×",
                value is not None and value >= TARGETS[key],
            )
        )
    bt = result.get("backtest") or {}
    if bt.get("replay_vs_nautilus") is not None:
        checks.append(
            (
                f"backtest replay {bt['replay_vs_nautilus']}× nautilus ≥ "
                f"{TARGETS['backtest_vs_nautilus']:g}×",
                bt["replay_vs_nautilus"] >= TARGETS["backtest_vs_nautilus"],
            )
        )
    if bt.get("no_intent_ticks_per_s") is not None:
        target = TARGETS["backtest_no_intent_ticks_per_s"]
        checks.append((f"backtest no-intent {bt['no_intent_ticks_per_s']:,} ticks/s ≥ {target:,}",
                       bt["no_intent_ticks_per_s"] >= target))
    for pct, key in (("p50_us", "tick_to_order_p50_us"), ("p99_us", "tick_to_order_p99_us")):
        value = _p(ours, pct)
        checks.append((f"live tick → order {pct[:-3]} {value} µs ≤ {TARGETS[key]:g} µs",
                       value is not None and value <= TARGETS[key]))
    return checks
