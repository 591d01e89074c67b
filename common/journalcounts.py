"""What a run did, counted from its durable files: the figures that stay true across restarts.

The stage table's counters are running tallies kept in shared memory for the live view: they survive
a stage's restart, and a restarted process counts again what it re-reads while recovering (orders
re-takes every intent in signals.jsonl, positions re-applies every fill of orders.jsonl). One chaos
run showed orders "handling" 2,992 intents when signals had raised 610. The journals hold each
intent, order, fill and denial exactly once, so the run's summary counts those from them instead.

`durable_counters(run_dir)` returns, per stage, the counters it can derive (named as in
`common.stagetable.COUNTER_NAMES`), where each came from, and per journal how many lines it could
not count. Lines are checked against their seal (common/journalline.py) but never raise: a summary
is written at the end of a run whatever state the files are in; recovery is where damage is refused.
Imports only msgspec, orjson, the standard library and `common`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import msgspec
import orjson

from common import rundir
from common.atomicfile import read_object
from common.journalline import problem

_CHUNK = 1 << 20


class _Fields(msgspec.Struct):
    """The few fields counted; msgspec skips the rest of each record in C."""

    type: str = ""
    seq: int = 0
    intent_id: str = ""
    fill_id: str = ""


_decoder = msgspec.json.Decoder(_Fields)


@dataclass
class JournalTally:
    """One journal's records by type, its distinct intent and fill ids, and the lines not
    counted."""

    records: Counter = field(default_factory=Counter)
    intent_ids: dict = field(default_factory=dict)   # record type -> set of intent ids
    fill_ids: set = field(default_factory=set)
    # damaged, unsealed or undecodable complete lines
    unreadable_lines: int = 0

    def ids(self, *types: str) -> set:
        return set().union(*(self.intent_ids.get(t, set()) for t in types))


def tally(path: str, after_seq: int = 0) -> JournalTally | None:
    """Count the complete lines of one journal (a torn last line is not a record yet) whose records
    are stamped after `after_seq`; None if absent."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    out, carry = JournalTally(), b""
    with f:
        while chunk := f.read(_CHUNK):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            for line in lines:
                _count(line, out, after_seq)
    return out


def _count(line: bytes, out: JournalTally, after_seq: int = 0) -> None:
    if problem(line):
        out.unreadable_lines += 1
        return
    try:
        rec = _decoder.decode(line)
    except msgspec.DecodeError:
        out.unreadable_lines += 1
        return
    if rec.seq <= after_seq and after_seq:
        return
    out.records[rec.type] += 1
    if rec.intent_id:
        out.intent_ids.setdefault(rec.type, set()).add(rec.intent_id)
    if rec.fill_id and rec.type == "OrderFilled":
        out.fill_ids.add(rec.fill_id)


def durable_counters(run_dir: str) -> tuple[dict, dict, dict]:
    """(counters per stage, the file each counter came from per stage, unreadable lines per
    journal)."""
    counters: dict[str, dict[str, int]] = {}
    sources: dict[str, dict[str, str]] = {}
    unreadable: dict[str, int] = {}

    def put(stage: str, source: str, figures: dict) -> None:
        counters.setdefault(stage, {}).update(figures)
        sources.setdefault(stage, {}).update(dict.fromkeys(figures, source))

    signals = tally(os.path.join(run_dir, rundir.SIGNALS_JOURNAL))
    if signals is not None:
        unreadable[rundir.SIGNALS_JOURNAL] = signals.unreadable_lines
        put("signals", rundir.SIGNALS_JOURNAL, {"intents": len(signals.ids("SignalRaised")),
                                         "journal_records": sum(signals.records.values())})
    # A run that resumed the account's day (account.json) counts its own records of the day's
    # journal.
    after = int(
        read_object(os.path.join(run_dir, rundir.ACCOUNT_INFO)).get("orders_seq_at_start") or 0
    )
    orders = tally(os.path.join(run_dir, rundir.ORDERS_JOURNAL), after)
    if orders is not None:
        unreadable[rundir.ORDERS_JOURNAL] = orders.unreadable_lines
        n = orders.records
        source = (
            f"{rundir.ORDERS_JOURNAL} (this run's records of the account day, after seq {after})"
            if after
            else rundir.ORDERS_JOURNAL
        )
        # An intent orders handled is one it decided: approved (journaled as its SignalRaised) or
        # denied.
        put(
            "orders",
            source,
            {
                "intents": len(orders.ids("SignalRaised", "OrderDenied")),
                "orders": n["OrderSubmitting"],
                "fills": len(orders.fill_ids),
                "denials": n["OrderDenied"],
                "rejections": n["OrderRejected"],
                "cancels": n["OrderCanceled"],
                "in_doubt": n["OrderInDoubt"],
            },
        )
    applied = _fills_applied(os.path.join(run_dir, rundir.POSITIONS))
    if applied is not None:
        # The book, rebuilt from orders.jsonl: the account day's, whichever run filled them.
        put(
            "positions",
            f"{rundir.POSITIONS} (the account day's book)" if after else rundir.POSITIONS,
            {"fills": applied},
        )
    return counters, sources, unreadable


def _fills_applied(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            value = orjson.loads(f.read()).get("fills_applied")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, int) else None
