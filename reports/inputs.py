"""What a run report reads from a finished run directory, and nothing more.

Every input is optional: a run killed half-way may have no summary.json, a run that never traded has
no fills. Journals are read line by line (a full day's orders.jsonl is large): a line is used only
once its newline is there, so a torn last line is skipped, and an unreadable line is counted, never
raised.

Fills come from orders.jsonl, the journal positions itself trusts; fills.jsonl is the copy the
orders stage writes second (a crash between the two writes leaves it short), so its fills only fill
gaps.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import msgspec
import orjson

from common import rundir
from common.clock import IST_OFFSET_NS
from common.messages import OrderFilled

STAGES = ("feed", "signals", "orders", "positions")
ENGINE_RECORDS = ("TicksProcessed", "SignalRaised")   # the orders engine's own, not order events
DAY_NS = 86_400 * 1_000_000_000


class _Record(msgspec.Struct):
    """The few fields of an orders-journal line a report counts by; msgspec skips the rest in C."""

    type: str = ""
    ts_event_ns: int = 0
    reason: str = ""
    reason_code: int = 0
    code: str = ""


_record_decoder = msgspec.json.Decoder(_Record)
_fill_decoder = msgspec.json.Decoder(OrderFilled)


@dataclass
class Latency:
    stage: str
    metric: str          # e.g. "tick_to_order"
    count: int
    p50_ns: int
    p99_ns: int
    p999_ns: int
    max_ns: int


@dataclass
class RunInputs:
    run_dir: str
    # OrderFilled, in journal order, one per fill id
    fills: list = field(default_factory=list)
    event_counts: Counter = field(default_factory=Counter)  # orders.jsonl records by type
    denials: Counter = field(default_factory=Counter)       # (reason key, reason_code) -> count
    denial_text: dict = field(default_factory=dict)         # reason key -> its first explanation
    rejections: Counter = field(default_factory=Counter)    # (reason, code) -> count
    first_event_ns: int = 0         # earliest and latest market time the journal records carry
    last_event_ns: int = 0
    # IST day number -> [first, last] market time that day
    day_windows: dict = field(default_factory=dict)
    unreadable_lines: int = 0
    positions: dict = field(default_factory=dict)           # positions.json as written
    summary: dict = field(default_factory=dict)             # summary.json as written
    latency: list = field(default_factory=list)             # Latency rows
    lifecycle: list = field(default_factory=list)           # supervisor.jsonl records
    config: dict = field(default_factory=dict)              # config.effective.json
    missing: list = field(default_factory=list)             # expected files that were not there

    @property
    def symbols(self) -> list[str]:
        return [i.get("symbol", "") for i in self.config.get("instruments", [])]

    def count(self, kind: str) -> int:
        return self.event_counts.get(kind, 0)


def read_json(path: str, missing: list | None = None) -> dict:
    """A JSON document, or {} when it is absent or unreadable (noted in `missing`)."""
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
        return doc if isinstance(doc, dict) else {}
    except (OSError, orjson.JSONDecodeError):
        if missing is not None:
            missing.append(os.path.basename(path))
        return {}


def complete_lines(path: str):
    """The lines of a JSON-lines file that end in a newline (a torn last line is not one yet)."""
    try:
        f = open(path, "rb")
    except OSError:
        return
    with f:
        for line in f:
            if line.endswith(b"\n") and line.strip():
                yield line


def denial_key(reason: str, code: int) -> tuple[str, str]:
    """Risk writes "RATE_PER_SEC: order rate limit per second reached (qty=1, ...)": group by the
    name before the colon (the numbers after it differ on every denial), keep the words as the
    explanation."""
    name, sep, rest = reason.partition(":")
    name = name.strip()
    if not sep or not name.replace("_", "").isalnum():
        return (f"code {code}", reason.strip())
    return (name, rest.split("(", 1)[0].strip())


def note_time(inputs: RunInputs, ts_ns: int) -> None:
    if ts_ns > 0:
        inputs.first_event_ns = min(inputs.first_event_ns or ts_ns, ts_ns)
        inputs.last_event_ns = max(inputs.last_event_ns, ts_ns)
        window = inputs.day_windows.setdefault((ts_ns + IST_OFFSET_NS) // DAY_NS, [ts_ns, ts_ns])
        window[0], window[1] = min(window[0], ts_ns), max(window[1], ts_ns)


def read_orders_journal(inputs: RunInputs) -> None:
    path = os.path.join(inputs.run_dir, rundir.ORDERS_JOURNAL)
    if not os.path.exists(path):
        inputs.missing.append(rundir.ORDERS_JOURNAL)
    seen: dict[str, OrderFilled] = {}
    for line in complete_lines(path):
        try:
            rec = _record_decoder.decode(line)
            fill = _fill_decoder.decode(line) if rec.type == "OrderFilled" else None
        except msgspec.DecodeError:
            inputs.unreadable_lines += 1
            continue
        inputs.event_counts[rec.type] += 1
        note_time(inputs, rec.ts_event_ns)
        if rec.type == "OrderDenied":
            key, text = denial_key(rec.reason, rec.reason_code)
            inputs.denials[(key, rec.reason_code)] += 1
            inputs.denial_text.setdefault(key, text)
        elif rec.type == "OrderRejected":
            inputs.rejections[(rec.reason.strip() or "(no reason)", rec.code)] += 1
        elif fill is not None:
            seen.setdefault(fill.fill_id, fill)
    for line in complete_lines(os.path.join(inputs.run_dir, rundir.FILLS_JOURNAL)):
        try:
            fill = _fill_decoder.decode(line)
        except msgspec.DecodeError:
            inputs.unreadable_lines += 1
            continue
        if fill.fill_id not in seen:         # only in the copy: the journal line was lost
            seen[fill.fill_id] = fill
            inputs.event_counts["OrderFilled"] += 1
        note_time(inputs, fill.ts_event_ns)
    inputs.fills = sorted(seen.values(), key=lambda f: (f.seq, f.ts_event_ns))


def latency_rows(summary: dict, run_dir: str) -> list[Latency]:
    """Every latency summary (a dict with p50_ns) of every stage: from summary.json, where the
    supervisor merged the stages' own files, or from those files when the run ended without one."""
    stages = summary.get("stages") or {
        s: read_json(os.path.join(run_dir, f"{s}.summary.json")) for s in STAGES
    }
    rows = []
    for stage, doc in stages.items():
        for metric, value in (doc or {}).items():
            if isinstance(value, dict) and "p50_ns" in value and value.get("count", 0):
                rows.append(
                    Latency(
                        stage,
                        metric,
                        int(value.get("count", 0)),
                        *(int(value.get(k, 0)) for k in ("p50_ns", "p99_ns", "p999_ns", "max_ns")),
                    )
                )
    return rows


def read_lifecycle(run_dir: str, inputs: RunInputs) -> list[dict]:
    records = []
    for line in complete_lines(os.path.join(run_dir, rundir.SUPERVISOR_LOG)):
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            inputs.unreadable_lines += 1
    return records


def read_run(run_dir: str) -> RunInputs:
    """Everything a report needs from `run_dir` (which must exist)."""
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"not a run directory: {run_dir}")
    inputs = RunInputs(run_dir=run_dir)
    read_orders_journal(inputs)
    inputs.positions = read_json(os.path.join(run_dir, rundir.POSITIONS), inputs.missing)
    inputs.summary = read_json(os.path.join(run_dir, rundir.SUMMARY), inputs.missing)
    inputs.config = read_json(os.path.join(run_dir, rundir.CONFIG_EFFECTIVE))
    inputs.latency = latency_rows(inputs.summary, run_dir)
    inputs.lifecycle = read_lifecycle(run_dir, inputs)
    return inputs
