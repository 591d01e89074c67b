"""Structured logging: one JSON object per line, never a secret.

Every stage logs through `get_logger(stage)`. Log calls never happen per tick on the hot path; they
are for lifecycle, denials, broker errors and periodic status. Values that look like secrets are
masked by `redact` before anything is written, as a second line of defence (secrets should never be
passed to a logger in the first place).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time

import orjson

_SECRET_KEYS = re.compile(r"(secret|token|password|api_key|apikey|authorization)", re.IGNORECASE)


def redact(fields: dict) -> dict:
    """Replace the values of secret-looking keys with '***'."""
    return {k: ("***" if _SECRET_KEYS.search(k) else v) for k, v in fields.items()}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "stage": getattr(record, "stage", record.name),
            "pid": record.process,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if extra:
            doc.update(redact(extra))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class StageLogger(logging.LoggerAdapter):
    """`log.info("order denied", reason="stale", symbol="SBIN")`: keyword fields become JSON
    keys."""

    def process(self, msg, kwargs):
        fields = {
            k: kwargs.pop(k)
            for k in list(kwargs)
            if k not in ("exc_info", "stack_info", "stacklevel")
        }
        kwargs["extra"] = {"stage": self.extra["stage"], "fields": fields}
        return msg, kwargs


def configure(level: str = "INFO", stream=None) -> None:
    """Install the JSON formatter on the root logger (once per process)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(os.environ.get("OTRADE_LOG_LEVEL", level).upper())
    logging.Formatter.converter = time.gmtime


def get_logger(stage: str) -> StageLogger:
    return StageLogger(logging.getLogger(f"otrade.{stage}"), {"stage": stage})
