"""Where the orders stage says what its last reconciliation with the broker found, for the
supervisor.

orders/reconciler.py replaces `orders.reconcile.json` in the run directory atomically after every
check, adoption or failed read: {"ok", "outstanding": [named differences], "pending", "holding",
"error", "last", "baseline", "ts_ns"}. The supervisor's status, /health, summary.json and `ctl` read
it here (common/ sits below the stages, so neither side imports the other).
"""

from __future__ import annotations

import os

from common.atomicfile import read_object

FILE_NAME = "orders.reconcile.json"


def read_result(run_dir: str) -> dict:
    """What orders last wrote ({} when it has written nothing, or the file is unreadable)."""
    return read_object(os.path.join(run_dir, FILE_NAME))
