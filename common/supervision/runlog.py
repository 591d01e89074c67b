"""`<run_dir>/supervisor.jsonl`: one JSON line per lifecycle event (spawn, exit, hang, restart, give-up).

Written unbuffered-per-line so that a SIGKILLed supervisor still leaves every event it recorded.
"""

from __future__ import annotations

import os
import time

import orjson


class RunLog:
    def __init__(self, path: str):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def event(self, kind: str, stage: str = "", **fields) -> dict:
        doc = {"ts": time.time(), "kind": kind, "stage": stage, **fields}
        os.write(self._fd, orjson.dumps(doc) + b"\n")
        return doc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
