"""`<run_dir>/supervisor.jsonl`: one JSON line per lifecycle event (spawn, exit, hang, restart,
give-up).

Written unbuffered-per-line so that a SIGKILLed supervisor still leaves every event it recorded.

A write that fails (a full disk: ENOSPC, a quota, an I/O error) never raises out of `event()`: the
supervisor must keep its judgement and stop the stages in order even when it can no longer record
what it does (issue 12.4). The first failure is kept in `failure` and the events that could not be
written are counted in `lost`; the supervisor polls `failure`, halts trading and ends the run with
its own exit code (core.EXIT_LOG_FAILED).

With a `publisher` attached (supervision/events.py: a PUB socket on the run's `PUB_SUPERVISOR`
endpoint), each lifecycle event is also handed to it right after it is journaled, for watchers (a
dashboard, an alerting script). The journal stays the record: the publisher is called only after
the line is written (or counted lost), and a publisher that raises is counted in `unpublished` and
never stops the event, nor the ones after it.
"""

from __future__ import annotations

import os
import time
from typing import Protocol

import orjson

from common.messages import SUPERVISOR_EVENT_KINDS


class EventPublisher(Protocol):
    def publish(self, doc: dict) -> None: ...


class RunLog:
    def __init__(self, path: str):
        self.path = path
        self.failure: OSError | None = None   # the first write that failed, if any
        self.lost = 0                          # events not written since then
        self.publisher: EventPublisher | None = None
        self.unpublished = 0                   # lifecycle events the publisher raised on
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def event(self, kind: str, stage: str = "", **fields) -> dict:
        doc = {"ts": time.time(), "kind": kind, "stage": stage, **fields}
        try:
            self._write(orjson.dumps(doc) + b"\n")
        except OSError as e:
            self.lost += 1
            if self.failure is None:
                self.failure = e
        if self.publisher is not None and kind in SUPERVISOR_EVENT_KINDS:
            try:
                self.publisher.publish(doc)
            except Exception:  # noqa: BLE001 - a watcher's socket must never fail the supervisor
                self.unpublished += 1
        return doc

    def _write(self, data: bytes) -> None:
        if self._fd < 0:
            raise OSError(f"run log {self.path} is closed")
        written = os.write(self._fd, data)
        if written != len(data):   # a short write is a full disk that has not said ENOSPC yet
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
