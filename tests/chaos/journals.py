"""A run's journals as comparable records.

`journals`: what two undisturbed runs of one replay must agree on line by line. Every journal line
is kept except the fields that are wall-clock or monotonic-clock readings of this process
(`ts_init_ns`, `ts_recv_ns`) and the seal over them (`crc`). Everything else (sequence numbers,
market times, tick seqs, ids, prices, reasons) must be identical, in the same order.

`decisions`: what orders decided, as a multiset, for runs whose stages were killed: a restarted
orders may journal its recovery (an order in doubt looked up at the broker) where an undisturbed run
journals nothing, but every intent must still be denied for the same reason or placed as the same
order, every cancel and every square-off made, each exactly once.
"""

from __future__ import annotations

import json
import os

JOURNALS = ("signals.jsonl", "orders.jsonl", "fills.jsonl", "paper_broker.jsonl")
CLOCK_FIELDS = ("ts_init_ns", "ts_recv_ns", "crc")


def stripped(run_dir: str, name: str) -> list[dict]:
    out = []
    with open(os.path.join(run_dir, name)) as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                for field in CLOCK_FIELDS:
                    record.pop(field, None)
                out.append(record)
    return out


def journals(run_dir: str) -> dict[str, list[dict]]:
    return {name: stripped(run_dir, name) for name in JOURNALS}


def first_difference(a: dict[str, list[dict]], b: dict[str, list[dict]]) -> str | None:
    """Where two runs' journals part: journal, line number and both lines; None if they are
    identical."""
    for name in JOURNALS:
        left, right = a[name], b[name]
        for i, (x, y) in enumerate(zip(left, right)):
            if x != y:
                return f"{name} line {i + 1}:\n  first:  {x}\n  second: {y}"
        if len(left) != len(right):
            return f"{name}: {len(left)} lines in the first run, {len(right)} in the second"
    return None


def decisions(run_dir: str) -> list[str]:
    """orders.jsonl's denials, placements, cancels and bracket closes, one canonical line each,
    sorted."""
    out = []
    for r in stripped(run_dir, "orders.jsonl"):
        kind = r["type"]
        if kind == "OrderDenied":
            key = [kind, r["intent_id"], r["client_order_id"], r["reason"]]
        elif kind == "OrderSubmitting":
            key = [
                kind,
                r["client_order_id"],
                r["intent_id"],
                r["role"],
                r["side"],
                r["qty"],
                r["order_type"],
                r["price"],
                r["trigger_price"],
                r["tick_seq"],
            ]
        elif kind == "OrderCanceled":
            key = [kind, r["client_order_id"]]
        elif kind == "BracketsClosed":
            key = [kind, r["ts_event_ns"], r["reason"]]
        else:
            continue
        out.append(json.dumps(key))
    return sorted(out)
