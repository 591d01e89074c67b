"""What a sweep leaves besides cells.csv: the sorted results table, the walk-forward tables, the
best config.

- results.csv and results.parquet: one row per cell of this sweep (phase "search", or "train"/"test"
  with its fold), a column per swept path, the objective, the figures, status and error. Sorted by
  fold, phase, then the objective (best first); cells with no objective (failed, invalid, undefined)
  last, in the order they were planned.
- walk_forward.csv: a row per fold (windows, the params chosen on train, their train and test
  objective, the test's net P&L); oos_equity.csv: the test sessions' daily P&L in order and its
  running sum, the out-of-sample equity.
- best_config.json: the base config file with the best params set (a walk-forward: those chosen on
  the last fold's train window, what would trade next), checked by the same loader as
  `python supervisor.py --check-config`.
"""

from __future__ import annotations

import math
import os

import orjson

from common.atomicfile import write_atomic
from config.loader import load_config

from backtest.sweep import space
from backtest.sweep.cell import FIGURES, OBJECTIVES


def objective_of(rec: dict, objective: str) -> float | None:
    value = rec.get(OBJECTIVES[objective]) if rec.get("status") == "ok" else None
    return (
        None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    )


def best(records: list[dict], objective: str) -> dict | None:
    """The record with the highest objective (the first planned among equals); None if none has
    one."""
    scored = [(value, r) for r in records if (value := objective_of(r, objective)) is not None]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def result_rows(planned: list[tuple[dict, dict]], axes: dict, objective: str) -> list[dict]:
    """[(tags, record)] → the sorted table's rows, one per distinct cell of each fold and phase."""
    rows, seen = [], set()
    for order, (tags, rec) in enumerate(planned):
        once = (rec["key"], tags.get("fold", -1), tags.get("phase", "search"))
        if once in seen:            # Optuna proposed it again: one cell, one row
            continue
        seen.add(once)
        row = {
            "fold": tags.get("fold", -1),
            "phase": tags.get("phase", "search"),
            "window_from": rec["window_from"],
            "window_to": rec["window_to"],
            **{path: rec["params"].get(path) for path in axes},
            "objective": objective_of(rec, objective),
            **{k: rec.get(k) for k in FIGURES},
            "status": rec["status"],
            "error": rec.get("error") or "",
            "key": rec["key"],
            "_order": order,
        }
        rows.append(row)
    rows.sort(key=lambda r: (r["fold"], r["phase"] != "train", r["objective"] is None,
                             -(r["objective"] or 0.0), r["_order"]))
    for row in rows:
        del row["_order"]
    return rows


def write_table(out_dir: str, name: str, rows: list[dict]) -> None:
    """`name`.csv and `name`.parquet, each replaced atomically."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows) if rows else pa.table({})
    for ext, writer in (("csv", pacsv.write_csv), ("parquet", pq.write_table)):
        path = os.path.join(out_dir, f"{name}.{ext}")
        tmp = f"{path}.tmp"
        writer(table, tmp)
        os.replace(tmp, path)


def write_best_config(out_dir: str, base_path: str, params: dict) -> str:
    """best_config.json: the base file's JSON with `params` set; ConfigError if the loader refuses
    it."""
    with open(base_path, "rb") as f:
        raw = orjson.loads(f.read())
    path = os.path.join(out_dir, "best_config.json")
    write_atomic(
        path, orjson.dumps(space.apply(raw, params), option=orjson.OPT_INDENT_2), durable=False
    )
    load_config(path)
    return path


def walk_forward_rows(folds, chosen: list[dict | None], tests: list[dict | None], objective: str):
    """walk_forward.csv's rows and the out-of-sample daily rows (date, fold, P&L, equity)."""
    rows, daily, equity = [], [], 0.0
    for fold, train, test in zip(folds, chosen, tests):
        rows.append(
            {
                "fold": fold.index,
                "train_from": fold.train[0],
                "train_to": fold.train[1],
                "test_from": fold.test[0],
                "test_to": fold.test[1],
                "params": orjson.dumps(train["params"]).decode() if train else "",
                "train_objective": objective_of(train, objective) if train else None,
                "test_objective": objective_of(test, objective) if test else None,
                "test_net_pnl_inr": test.get("net_pnl_inr") if test else None,
                "test_status": test["status"]
                if test
                else "no params: no train cell has an objective",
                "test_error": (test.get("error") or "") if test else "",
            }
        )
        for date, pnl in (test or {}).get("daily") or []:
            equity += pnl
            daily.append(
                {"date": date, "fold": fold.index, "net_pnl_inr": pnl, "equity_inr": equity}
            )
    return rows, daily
