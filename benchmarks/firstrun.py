"""What a new user's first run shows, measured: `python -m benchmarks.firstrun [--duration S]
[--json FILE]`.

Runs `python supervisor.py --duration S --no-dashboard --http-port 0` on the embedded default
(config/default.json) in a fresh temporary run directory, with OTRADE_ACCOUNT_HOME pointing at a
fresh temporary directory too (a first run starts a new account day: nothing resumed from an
earlier run on this machine), then reads what that run wrote — summary.json and the orders journal —
into one results document, `benchmarks/results/firstrun-<UTC timestamp>.json` (and --json FILE).
`python -m benchmarks.readme` turns the latest one into the README's "What `make run` shows"
figures.

The figures are the run's own records, never typed: ticks, the market clock's span, intents,
denials by reason, orders by role, fills, P&L, exit code, and the stages' latency percentiles.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time

import orjson

from benchmarks.stats import machine_info
from benchmarks.suite import write_json
from common.clock import IST

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")
PREFIX = "firstrun-"


class FirstRunError(RuntimeError):
    """The supervisor did not leave a run to measure (it failed to start, or wrote no summary)."""


def command(duration_s: float) -> list[str]:
    """The measured command line, as a user would type it (the interpreter aside)."""
    return ["supervisor.py", "--duration", f"{duration_s:g}", "--no-dashboard", "--http-port", "0"]


def run(duration_s: float = 60.0, python: str = sys.executable) -> dict:
    """Run the supervisor for `duration_s` on the default in temporary directories; the results."""
    with tempfile.TemporaryDirectory(prefix="otrade-firstrun-") as tmp:
        run_dir = os.path.join(tmp, "run")
        env = dict(os.environ, OTRADE_ACCOUNT_HOME=os.path.join(tmp, "accounts"))
        started = time.time()
        proc = subprocess.run(
            [python, *command(duration_s), "--run-dir", run_dir],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=duration_s + 300,
        )
        if not os.path.exists(os.path.join(run_dir, "summary.json")):
            raise FirstRunError(f"the supervisor exited {proc.returncode} without a summary.json; "
                                f"stderr: {proc.stderr.strip()[-2000:]}")
        result = measure(run_dir)
    result.update(duration_s=duration_s, exit_code=proc.returncode, started_utc=_utc(started),
                  command="python " + " ".join(command(duration_s)), machine=machine_info())
    return result


def measure(run_dir: str) -> dict:
    """The figures of the run in `run_dir` (summary.json and orders.jsonl; pure: no process)."""
    with open(os.path.join(run_dir, "summary.json"), "rb") as f:
        summary = orjson.loads(f.read())
    events = _journal(os.path.join(run_dir, "orders.jsonl"))
    by_type = collections.defaultdict(list)
    for e in events:
        if e is not None:
            by_type[e.get("type")].append(e)
    denied = collections.Counter(
        str(e.get("reason", "")).split(":")[0] for e in by_type["OrderDenied"]
    )
    roles = collections.Counter(e.get("role", "") for e in by_type["OrderSubmitting"])
    ticks_ts = [e["ts_event_ns"] for e in by_type["TicksProcessed"] if e.get("ts_event_ns")]
    intents_ts = [e["ts_event_ns"] for e in by_type["SignalRaised"]]
    effective = _effective_config(run_dir)
    stages = summary.get("stages", {})
    feed = stages.get("feed", {}).get("counters", {})
    intents = len(by_type["SignalRaised"])
    return {
        "kind": "firstrun",
        "reason": summary.get("reason", ""),
        "ticks": int(
            feed.get("ticks") or stages.get("orders", {}).get("counters", {}).get("ticks", 0)
        ),
        "market_start_ist": _sim_start(effective),
        "instruments": len(effective.get("instruments", [])),
        "market_last_tick_ist": _ist(max(ticks_ts)) if ticks_ts else None,
        "first_intent_ist": _ist(min(intents_ts)) if intents_ts else None,
        "intents": intents,
        "denied": sum(denied.values()),
        "denied_by_reason": dict(sorted(denied.items())),
        "denied_share": round(sum(denied.values()) / intents, 4) if intents else 0.0,
        "orders": sum(roles.values()),
        "orders_by_role": dict(sorted(roles.items())),
        "fills": len(by_type["OrderFilled"]),
        "realised_pnl_inr": round(float(summary.get("pnl", {}).get("realised_pnl_inr", 0.0)), 2),
        "unrealised_pnl_inr": round(
            float(summary.get("pnl", {}).get("unrealised_pnl_inr", 0.0)), 2
        ),
        "left_at_broker": bool(
            summary.get("left_at_broker", {}).get("working_orders")
            or summary.get("left_at_broker", {}).get("positions")
        ),
        "latency_us": {name: s.get("latency_us", {}) for name, s in stages.items()},
        "unreadable_journal_lines": sum(1 for e in events if e is None),
    }


def _effective_config(run_dir: str) -> dict:
    """The configuration the run used (config.effective.json); {} if unreadable."""
    try:
        with open(os.path.join(run_dir, "config.effective.json"), "rb") as f:
            doc = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _sim_start(effective: dict) -> str | None:
    """Where the run's sim market clock started, HH:MM:SS; None if unknown. (The orders journal
    marks ticks only where it acts, so its first mark is not the first tick.)"""
    start = ((effective.get("feed") or {}).get("sim") or {}).get("start_time")
    if not start:
        return None
    return f"{start}:00" if len(str(start)) == 5 else str(start)


def _journal(path: str) -> list:
    """Every line of a JSON-lines journal; an unreadable line is None (counted, never fatal)."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path, "rb") as f:
        for line in f:
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                out.append(None)
    return [e for e in out if e is None or isinstance(e, dict)]


def _ist(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, IST).strftime("%H:%M:%S")


def _utc(ts_s: float) -> str:
    return dt.datetime.fromtimestamp(ts_s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.firstrun", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, metavar="S", help="seconds to run (default 60)"
    )
    parser.add_argument("--out", metavar="DIR", default=RESULTS_DIR, help="results directory")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    args = parser.parse_args(argv)
    try:
        result = run(args.duration)
    except (FirstRunError, subprocess.TimeoutExpired) as e:
        print(f"firstrun: {e}", file=sys.stderr)
        return 1
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for path in [os.path.join(args.out, f"{PREFIX}{stamp}.json")] + (
        [args.json] if args.json else []
    ):
        write_json(result, path)
        print(f"wrote {path}")
    print(
        orjson.dumps(
            {k: v for k, v in result.items() if k not in ("machine", "latency_us")}
        ).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
