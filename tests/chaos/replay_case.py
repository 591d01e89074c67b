"""The fixed replay session the exactly-once tests run: generated ticks, a config, and the
comparison.

200,000 ticks over 20 instruments at 1,000 ticks/s of market time starting 15:07 IST, so one run
covers entries, stop-losses, targets, the 15:09 entry cut-off and the 15:10 square-off.
"""

from __future__ import annotations

import json
import os

import msgspec

from config.loader import load_config
from feed.generate import generate
from feed.replayfile import write_ticks

N_TICKS = 200_000
N_INSTRUMENTS = 20


def write_session(path: str, n_ticks: int = N_TICKS) -> None:
    base = load_config(None).config
    sim = msgspec.structs.replace(
        base.feed.sim,
        seed=11,
        session_date="2026-01-05",
        start_time="15:07",
        profile="stress",
        tick_rate_hz=1000.0,
        volatility_bps_per_tick=1.5,
        regime_ticks=3000,
    )
    write_ticks(path, *generate(base.instruments[:N_INSTRUMENTS], sim, n_ticks))


def overrides(path: str, speed: float) -> dict:
    base = load_config(None).config
    instruments = [msgspec.to_builtins(i) for i in base.instruments[:N_INSTRUMENTS]]
    return {
        "instruments": instruments,
        "feed": {"source": "replay", "replay": {"path": path, "speed": speed}},
        "strategies": [
            {
                "name": "mac",
                "kind": "ma_crossover",
                "params": {"fast": 20, "slow": 60, "stop_loss_pct": 0.4, "target_pct": 0.6},
            }
        ],
        "risk": {"entry_cutoff": "15:09", "square_off": "15:10", "session_end": "15:30"},
        # Room for orders' end-of-replay drain (finish() does not beat): see nse_case.overrides.
        "supervisor": {"stop_grace_ms": 30000},
    }


def _lines(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def outcome(run_dir: str) -> dict:
    """What must be identical between runs: orders at the broker, fills, positions, realised P&L."""
    broker_orders = sorted({r["coid"] for r in _lines(os.path.join(run_dir, "paper_broker.jsonl"))
                            if r.get("k") == "place"})
    keep = (
        "fill_id",
        "client_order_id",
        "role",
        "instrument",
        "side",
        "qty",
        "price",
        "fees_inr",
        "tick_seq",
    )
    fills = [{k: r[k] for k in keep} for r in _lines(os.path.join(run_dir, "fills.jsonl"))]
    with open(os.path.join(run_dir, "positions.json")) as f:
        pos = json.load(f)
    positions = [{k: p[k] for k in ("symbol", "qty", "avg_price", "realised_pnl_inr", "fees_inr")}
                 for p in pos["positions"]]
    assert broker_orders, "the paper broker's journal holds no placement"
    return {"broker_orders": broker_orders, "fills": fills, "positions": positions,
            "realised_pnl_inr": pos["realised_pnl_inr"]}
