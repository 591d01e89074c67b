"""The trading state `orders` is really in, and why: the one record the supervisor reads it from.

Two channels, one each way (issue 13):
- supervisor → orders: `SetTradingState` commands on orders' command socket (topics.CMD_ORDERS),
  the operator's `ctl halt/resume/flatten` and the supervisor's own halt alike
  (supervision/commands.py). A command's `ts_event_ns` is its stamp, strictly increasing within one
  supervisor; orders drops a command stamped at or below the last one it applied (a stale or
  doubled delivery) and acknowledges each one it applied in its record (`command_ns`), once its
  effect is journaled. The supervisor's own halt is re-sent until acknowledged, so a halt that
  orders did not live to journal is delivered again to the restarted orders.
- orders → supervisor: `orders.trading_state.json` in the run directory, {"state", "reason",
  "ts_event_ns", "command_ns"}, replaced atomically by rename (`write_state`): state and reason are
  one record, so no crash can leave one without the other. Status, /health, the summary and `ctl`
  read it here (`read_state`, `effective`). The orders stage counter `trading_state` mirrors the
  code for /health's counters only; nothing decides on it.
The control row of the stage table (common/stagetable.py) holds what the supervisor itself decided
(its halt), for its own status while orders has not acknowledged it or is down; orders never reads
it.

`TradingState` is the one spelling of the states everywhere: its codes are what the control row,
the orders stage counter and the risk kernel hold (ints in shared memory / numba), its names what
messages (`SetTradingState`, `TradingStateChanged`), journals and the state file hold. Both are
frozen: journals written by earlier versions are restored by name and shm rows read by code.
"""

from __future__ import annotations

import os
from enum import IntEnum

import orjson

from common.atomicfile import read_object, write_atomic

FILE_NAME = "orders.trading_state.json"
# What orders last did with an operator's flatten: {"sent_ns": the command's stamp, "orders_seq":
# the last orders event journaled once it had acted}. `ctl flatten` is answered done only from this
# on.
ACK_FILE = "orders.flatten_ack.json"


class TradingState(IntEnum):
    """Ordered by how much is allowed: a larger code is the worse state (`effective` relies on it).
    """

    ACTIVE = 0      # entries and exits
    REDUCING = 1    # exits only: no new entries
    HALTED = 2      # no new entries, working entries canceled; exits keep protecting positions


# The names in message/journal order ("ACTIVE", "REDUCING", "HALTED"): what a str field may hold.
NAMES = tuple(state.name for state in TradingState)


def name_of(code: int) -> str:
    """The name of a code read from shared memory; a code no version writes shows as itself, so a
    status never hides what the row really holds."""
    try:
        return TradingState(code).name
    except ValueError:
        return str(code)


def write_state(run_dir: str, state: str, reason: str, ts_event_ns: int = 0,
                command_ns: int = 0) -> None:
    """Replace the record by rename: a reader sees the old (state, reason) or the new one, never
    half of one. `command_ns`: the stamp of the last supervisor command orders applied (0: none
    since this orders process started)."""
    write_atomic(
        os.path.join(run_dir, FILE_NAME),
        orjson.dumps({"state": state, "reason": reason, "ts_event_ns": ts_event_ns,
                      "command_ns": command_ns}),
        durable=False,
    )


def read_state(run_dir: str) -> dict:
    """The last record orders wrote ({} when it has written none, or the file is unreadable)."""
    return read_object(os.path.join(run_dir, FILE_NAME))


def acknowledged(run_dir: str) -> int:
    """The stamp of the last command orders applied and journaled (0: none yet, or orders has
    restarted since: a command it did not acknowledge again must be sent again)."""
    return int(read_state(run_dir).get("command_ns") or 0)


def effective(control_code: int, run_dir: str) -> tuple[int, str, str]:
    """(state code, who set it, reason): the worse of the supervisor's own (its control row) and
    orders' record, whose state and reason come from that one record. On a tie the supervisor's."""
    record = read_state(run_dir)
    # no record yet: ACTIVE (what an orders that has written none trades); a name no version
    # writes: HALTED, as the risk kernel judges it
    name = record.get("state", TradingState.ACTIVE.name)
    orders_code = int(TradingState.__members__.get(str(name), TradingState.HALTED))
    if orders_code > control_code:
        return orders_code, "orders", str(record.get("reason", ""))
    reason = "a critical stage failed" if control_code == TradingState.HALTED else ""
    return control_code, "supervisor", reason


def write_flatten_ack(run_dir: str, sent_ns: int, orders_seq: int) -> None:
    """orders has canceled and closed what a flatten stamped `sent_ns` asked (its events up to
    `orders_seq` are journaled); positions is done with it once it has applied that far."""
    write_atomic(
        os.path.join(run_dir, ACK_FILE),
        orjson.dumps({"sent_ns": sent_ns, "orders_seq": orders_seq}),
        durable=False,
    )


def read_flatten_ack(run_dir: str) -> dict:
    return read_object(os.path.join(run_dir, ACK_FILE))
