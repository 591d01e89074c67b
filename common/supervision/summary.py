"""`<run_dir>/summary.json`: what the run did, in numbers — counts, P&L, latency, drops, restarts."""

from __future__ import annotations

import os

import orjson


def _read_json(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return {}


def write_summary(run_dir: str, final_status: dict, outcome) -> dict:
    stages = {}
    for name, s in final_status["stages"].items():
        stage_file = _read_json(os.path.join(run_dir, f"{name}.summary.json"))  # a stage's own final figures
        stages[name] = {"restarts": s["restarts"], "counters": s["counters"], "latency_us": s["latency"],
                        **stage_file}
    positions = _read_json(os.path.join(run_dir, "positions.json"))
    doc = {
        "run_id": final_status["run_id"],
        "exit_code": outcome.exit_code,
        "reason": outcome.reason,
        "gave_up": outcome.gave_up,
        "trading_state": final_status["trading_state"],
        "stages": stages,
        "pnl": {k: positions.get(k) for k in ("realised_pnl_inr", "unrealised_pnl_inr", "gross_exposure_inr")},
        "fills": positions.get("fills_applied"),
    }
    with open(os.path.join(run_dir, "summary.json"), "wb") as f:
        f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return doc
