"""The stage table: one shared-memory row per stage, written by the stage, read by the supervisor.

Heartbeats, lifecycle state, counters and latency percentiles travel here instead of over sockets so
that a hung stage (SIGSTOP, an infinite loop, a blocked syscall) is visible: it simply stops
writing. Each row is written by exactly one process (its stage) except `stop_requested`, which only
the supervisor writes; all fields are aligned int64, so a reader never sees a torn value on
x86-64/aarch64. The control row's `trading_state` (and `halt_reason`: 1 gave up on a critical stage,
2 cannot write the run log) records the supervisor's own halt for its status; no stage reads it.
The halt reaches orders as a command (supervision/commands.py, common/tradingstate.py).
"""

from __future__ import annotations

import numpy as np

from common.clock import mono_ns
from common.errors import StageError
from common.shm import RELEASED, attach_segment, create_segment

STAGES = ("feed", "signals", "orders", "positions")

# Lifecycle states (int64 in shared memory).
NONE, STARTING, READY, STOPPING, STOPPED, FINISHED = 0, 1, 2, 3, 4, 5
STATE_NAMES = {NONE: "none", STARTING: "starting", READY: "ready", STOPPING: "stopping",
               STOPPED: "stopped", FINISHED: "finished"}

# The control row's `trading_state` holds a common.tradingstate.TradingState code: the supervisor's
# own decision, shown by its status (orders' own state is its record, common/tradingstate.py).

N_COUNTERS = 20
ROW_DTYPE = np.dtype(
    [
        ("pid", np.int64),
        ("state", np.int64),
        ("heartbeat_ns", np.int64),     # common.clock.mono_ns() of the last beat
        ("stop_requested", np.int64),   # written by the supervisor only
        ("started_ns", np.int64),
        ("ready_ns", np.int64),
        ("lag", np.int64),              # ticks behind the ring writer (readers) or 0
        ("lat_ns", np.int64, (4,)),     # p50, p99, p99.9, max of the stage's own latency
        ("counters", np.int64, (N_COUNTERS,)),  # meaning per stage: see COUNTER_NAMES
        # Bumped for every unit of stop-drain work done: the stop ladder never kills a stage whose
        # drain moves (supervision/stopladder.py), however long each unit takes on a busy
        # box.
        ("progress", np.int64),
        # mono_ns until which the stage waits inside a call it declared bounded (a broker request,
        # bounded by its timeouts: StageRuntime.blocked), 0 outside one: the stop ladder does not
        # count that wait as silence, and counts it again once the bound has passed.
        ("blocked_until_ns", np.int64),
        ("_pad", np.int64, (7,)),
    ]
)
assert ROW_DTYPE.itemsize % 64 == 0

CONTROL_DTYPE = np.dtype(
    [
        ("magic", np.int64),
        ("n_rows", np.int64),
        ("trading_state", np.int64),
        ("halt_reason", np.int64),
        ("supervisor_pid", np.int64),
        ("_pad", np.int64, (3,)),
    ]
)
MAGIC = 0x4F54_5354_4731  # "OTSTG1"

# What each stage's counters mean (index → name). Stages write counters[i] with these indices.
COUNTER_NAMES = {
    "feed": [
        "ticks",
        "dropped_malformed",
        "dropped_unknown",
        "dropped_out_of_order",
        "reconnects",
        "write_timeouts",
        "order_updates",
        "dropped_text",
        "dropped_price_jump",
        "dropped_circuit",
        "dropped_ts_ahead",
    ],
    "signals": [
        "ticks",
        "intents",
        "overruns",
        "skipped_replayed",
        "journal_records",
        "ring_full_waits",
    ],
    "orders": [
        "intents",
        "orders",
        "fills",
        "denials",
        "rejections",
        "cancels",
        "in_doubt",
        "duplicate_intents",
        "broker_errors",              # calls the broker failed or refused
        "throttled",                  # calls our own rate limit refused before sending
        "ticks",
        "updates_applied",
        "updates_duplicate",
        "updates_ignored",
        "update_fills",
        "trading_state",
        "bad_broker_rows",
        "snapshot_loads",             # restarts that loaded the snapshot (orders/snapshot.py)
        "snapshot_refusals",          # restarts that refused it (reason in the log)
        "snapshot_writer_restarts",   # its writer process died and was started again
    ],
    "positions": ["fills", "duplicate_fills", "ticks", "reconciles", "mismatches", "overruns"],
}


def counter_index(stage: str, name: str) -> int:
    return COUNTER_NAMES[stage].index(name)


class StageTable:
    """Rows for the four stages plus a control row, in one segment owned by the supervisor."""

    def __init__(self, shm, owner: bool):
        self._shm = shm
        self._owner = owner
        self.control = np.ndarray((1,), CONTROL_DTYPE, buffer=shm.buf, offset=0)
        self.rows = np.ndarray((len(STAGES),), ROW_DTYPE, buffer=shm.buf, offset=64)

    @classmethod
    def create(cls, name: str, supervisor_pid: int) -> "StageTable":
        size = 64 + ROW_DTYPE.itemsize * len(STAGES)
        table = cls(create_segment(name, size), owner=True)
        table.rows[:] = 0
        table.control[0]["magic"] = MAGIC
        table.control[0]["n_rows"] = len(STAGES)
        table.control[0]["supervisor_pid"] = supervisor_pid
        return table

    @classmethod
    def attach(cls, name: str) -> "StageTable":
        table = cls(attach_segment(name), owner=False)
        if int(table.control[0]["magic"]) != MAGIC or int(table.control[0]["n_rows"]) != len(
            STAGES
        ):
            table.close()
            raise StageError(f"stage table {name!r} has another layout (magic or row count differ)")
        return table

    def row(self, stage: str) -> np.ndarray:
        """A writable view of one stage's row (a 0-d structured array)."""
        return self.rows[STAGES.index(stage)]

    @property
    def trading_state(self) -> int:
        return int(self.control[0]["trading_state"])

    def set_trading_state(self, state: int, reason: int = 0) -> None:
        self.control[0]["halt_reason"] = reason
        self.control[0]["trading_state"] = state

    def heartbeat_age_ns(self, stage: str, now: int | None = None) -> int:
        beat = int(self.row(stage)["heartbeat_ns"])
        return (now or mono_ns()) - beat if beat else -1

    def close(self) -> None:
        # Views must go before the mapping can close.
        self.control = self.rows = RELEASED
        self._shm.close()
        if self._owner:
            self._shm.unlink()
