"""`<run_dir>/summary.json`: what the run did, in numbers — counts, P&L, latency, drops, restarts.

Where a count can be taken from a durable file (intents, orders, fills, denials... from the
journals; positions' fills from its book) that is the figure under `counters`, and `counted_from`
names the file; every other counter is "process": the stage table's running tally, which is kept
across a stage's restarts and counts again what a restarted process re-reads while recovering.
`process_counters` keeps those tallies for the figures the files replaced. The stages' own files
(latency, engine and strategy stats) are written by each stage's last process at stop and cover that
process only.
"""

from __future__ import annotations

import os

import orjson

from common import rundir
from common.atomicfile import read_object, write_atomic
from common.journalcounts import durable_counters

COUNTERS_NOTE = (
    "counted_from names where each counter comes from: a journal or positions.json (exact "
    "across restarts), or 'process' (the stage table's running tally: kept across a stage's "
    "restarts, and a restarted process counts again what it re-reads while recovering); "
    "process_counters are those tallies for the figures taken from files; latency and the "
    "stages' own figures cover each stage's last process only"
)


def stop_report(run_dir: str) -> dict:
    """orders' stop report (orders/onstop.py), or why there is none: orders did not finish its
    stop."""
    stop = read_object(os.path.join(run_dir, rundir.stage_summary("orders"))).get("stop")
    if isinstance(stop, dict):
        return stop
    return {
        "left_at_broker": None,
        "note": "orders did not finish its stop (killed, or gave up): what is "
        "working or open at the broker was not checked; the next start on this run dir recovers it",
    }


def left_lines(stop: dict) -> list[str]:
    """Human lines for stderr: one per symbol with working orders or an open position."""
    left = stop.get("left_at_broker")
    if not left:
        return [] if left is not None else [stop.get("note", "")]
    lines = [
        f"  {sym}: {len(orders)} working: "
        + ", ".join(
            f"{o.get('role', '')} {'BUY' if o['side'] > 0 else 'SELL'} "
            f"{o['qty'] - o['filled_qty']} {o['order_type']}".strip()
            for o in orders
        )
        for sym, orders in sorted(left["working_orders"].items())
    ]
    lines += [f"  {sym}: position {qty:+d} open" for sym, qty in sorted(left["positions"].items())]
    if lines and stop.get("note"):
        lines.append(f"  ({stop['note']})")
    return lines


def write_summary(run_dir: str, final_status: dict, outcome) -> dict:
    durable, sources, unreadable = durable_counters(run_dir)
    stop = stop_report(run_dir)
    stages = {}
    for name, s in final_status["stages"].items():
        # a stage's own final figures
        stage_file = read_object(os.path.join(run_dir, f"{name}.summary.json"))
        from_files = durable.get(name, {})
        counters = {**s["counters"], **from_files}
        stages[name] = {
            "restarts": s["restarts"],
            "counters": counters,
            "counted_from": {k: sources.get(name, {}).get(k, "process") for k in counters},
            "process_counters": {k: s["counters"][k] for k in from_files if k in s["counters"]},
            "latency_us": s["latency"],
            **stage_file,
        }
    positions = read_object(os.path.join(run_dir, rundir.POSITIONS))
    doc = {
        "run_id": final_status["run_id"],
        "exit_code": outcome.exit_code,
        "reason": outcome.reason,
        "gave_up": outcome.gave_up,
        # The stop policy's result (issue 11.3) and the drain (issue 11.7): what was left, and
        # whether every stage finished its stop drain (`incomplete` lists those killed first, and
        # what they left).
        "stop": stop,
        "left_at_broker": stop.get("left_at_broker"),
        "drain": {
            "complete": not getattr(outcome, "drain", []),
            "incomplete": getattr(outcome, "drain", []),
        },
        "trading_state": final_status["trading_state"],
        # Why, the last reconciliation with the broker and the operator's commands (issue 11.2,
        # 11.5).
        "trading_state_reason": final_status.get("trading_state_reason", ""),
        "reconcile": final_status.get("reconcile"),
        "operator_commands": (final_status.get("operator") or {}).get("commands", []),
        "stages": stages,
        "counters_note": COUNTERS_NOTE,
        "unreadable_journal_lines": unreadable,
        "pnl": {
            k: positions.get(k)
            for k in ("realised_pnl_inr", "unrealised_pnl_inr", "gross_exposure_inr")
        },
        "fills": positions.get("fills_applied"),
    }
    write_atomic(
        os.path.join(run_dir, rundir.SUMMARY),
        orjson.dumps(doc, option=orjson.OPT_INDENT_2),
        durable=False,
    )
    return doc
