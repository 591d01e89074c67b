"""The sweep's memory: cells.csv in the output directory, one row a finished cell, appended as each
ends.

    store = CellStore(out_dir)         # reads what an earlier run finished
    store.done(key)                    # True: finished ("ok" or "invalid"), a rerun skips it
    store.append(cell, record)         # one os.write of one whole line with O_APPEND, then fsync

A row is written with a single write() to a file opened O_APPEND and fsync'ed, so a cell's row is
either all there or (after a crash mid-write) a last line without its newline, which opening the
store cuts off: a killed sweep loses at most the cell it was writing, never the table. Cells with
status "error" (an exception in the backtest, or a lost worker) are tried again by a rerun: the
cause may have been the machine; "invalid" cells (the config loader refused the combination) are
not.
"""

from __future__ import annotations

import csv
import io
import math
import os

import orjson

from backtest.sweep.cell import FIGURES

NAME = "cells.csv"
COLUMNS = (
    "key",
    "status",
    "error",
    "params",
    "window_from",
    "window_to",
    *FIGURES,
    "undefined",
    "ticks",
    "elapsed_s",
    "daily",
)
JSON_COLUMNS = ("params", "undefined", "daily")
FINISHED = ("ok", "invalid")


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _number(text: str):
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _from_row(row: dict) -> dict:
    rec = dict(row)
    for name in JSON_COLUMNS:
        empty: list | dict = [] if name == "daily" else {}
        rec[name] = (orjson.loads(row[name]) if row.get(name) else None) or empty
    for name in (*FIGURES, "ticks", "elapsed_s"):
        rec[name] = _number(row.get(name) or "")
    rec["window_from"] = row.get("window_from") or None
    rec["window_to"] = row.get("window_to") or None
    return rec


class CellStore:
    def __init__(self, out_dir: str):
        os.makedirs(out_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(out_dir, NAME)
        self.records: dict[str, dict] = {}
        self._load()

    def _load(self) -> None:
        if not os.path.exists(self.path):
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(COLUMNS)
            return
        with open(self.path, "rb") as f:
            data = f.read()
        whole = data[: data.rfind(b"\n") + 1]
        if len(whole) != len(data):          # a row cut by a crash: not a result
            with open(self.path, "r+b") as f:
                f.truncate(len(whole))
        for row in csv.DictReader(io.StringIO(whole.decode())):
            if row.get("key") and row.get("status"):
                self.records[row["key"]] = _from_row(row)

    def done(self, key: str) -> bool:
        rec = self.records.get(key)
        return rec is not None and rec["status"] in FINISHED

    def append(self, cell, record: dict) -> dict:
        """Write the cell's row (durably) and return the record as the store now holds it."""
        rec = {**record, "key": cell.key, "params": cell.params,
               "window_from": cell.window[0], "window_to": cell.window[1]}
        row = [
            orjson.dumps(rec.get(c)).decode() if c in JSON_COLUMNS else _text(rec.get(c))
            for c in COLUMNS
        ]
        buf = io.StringIO()
        csv.writer(buf).writerow(row)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, buf.getvalue().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records[cell.key] = _from_row(dict(zip(COLUMNS, row)))
        return self.records[cell.key]
