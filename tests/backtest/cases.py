"""Configurations and replay files the backtest tests share (the chaos NSE case, and tiny hand-made
ones)."""

from __future__ import annotations

import json
import os

from common.clock import ist_date
from feed.replayfile import write_ticks
from tests.chaos import nse_case
from tests.chaos.harness import BASE, merge

TINY_INSTRUMENTS = [{"symbol": "AAA", "token": 1, "tick_size": 0.05, "ref_price": 100.0},
                    {"symbol": "BBB", "token": 2, "tick_size": 0.05, "ref_price": 50.0}]


def write_config(where, overrides: dict, name: str = "config.json") -> str:
    """A config file of the chaos harness's BASE with `overrides`; returns its path. With the
    report, which the harness leaves out: a backtest's run files include it."""
    path = os.path.join(str(where), name)
    with open(path, "w") as f:
        json.dump(merge(merge(BASE, {"run": {"report": True}}), overrides), f)
    return path


def nse_config(where, days: tuple[str, ...] | None = None, name: str = "config.json") -> str:
    """The chaos NSE case (3 sessions, 2 strategies) as a config; `days` cuts the file to those IST
    days."""
    data = os.path.join(str(where), f"nse-{'-'.join(days) if days else 'all'}.csv")
    ts, symbols, prices = nse_case.expand()
    if days:
        keep = [i for i, t in enumerate(ts) if ist_date(t).isoformat() in days]
        ts, symbols, prices = (
            [ts[i] for i in keep],
            [symbols[i] for i in keep],
            [prices[i] for i in keep],
        )
    write_ticks(data, ts, symbols, prices)
    return write_config(where, nse_case.overrides(data, 0), name)


def tiny_config(where, rows: list[tuple[int, str, float]], **overrides) -> str:
    """A replay of hand-written (ts_event_ns, symbol, price) rows over TINY_INSTRUMENTS."""
    data = os.path.join(str(where), "tiny.csv")
    write_ticks(data, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    over = {"instruments": TINY_INSTRUMENTS, "feed": {"source": "replay", "replay": {"path": data}}}
    return write_config(where, merge(over, overrides))
