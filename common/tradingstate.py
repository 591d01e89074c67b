"""The trading state `orders` is really in, and why, for the supervisor's status.

The supervisor writes the control row's trading state only when it halts trading itself (a critical
stage failed). The orders engine halts on its own too — the daily loss limit, a broker that refused
our session — and those reasons exist only in its journal. So orders also writes its state as a
stage counter (`trading_state`, the common.stagetable codes) and the state with its reason in
`orders.trading_state.json` in the run directory, replaced atomically; status reads both and shows
the worse of the two states, with the reason that goes with it.

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


def write_state(run_dir: str, state: str, reason: str, ts_event_ns: int = 0) -> None:
    """Replace the file by rename: a reader sees the old state or the new one, never half of one."""
    write_atomic(
        os.path.join(run_dir, FILE_NAME),
        orjson.dumps({"state": state, "reason": reason, "ts_event_ns": ts_event_ns}),
        durable=False,
    )


def read_state(run_dir: str) -> dict:
    """The last state orders wrote ({} when it has written none, or the file is unreadable)."""
    return read_object(os.path.join(run_dir, FILE_NAME))


def effective(control_code: int, orders_code: int, run_dir: str) -> tuple[int, str, str]:
    """(state code, who set it, reason): the worse of the supervisor's and the orders engine's."""
    if orders_code > control_code:
        return orders_code, "orders", str(read_state(run_dir).get("reason", ""))
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
