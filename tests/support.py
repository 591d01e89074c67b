"""Helpers for the whole test suite: `eventually()` instead of sleeps, shared-memory names, test
ticks.

    from tests.support import eventually, unique_segment

Segment names made by `unique_segment()` carry this pytest session's tag (`otrade_t<pid>-...`),
which is what the leak fixture in tests/conftest.py watches on a developer's machine, where other
people's runs create `otrade_*` segments at the same time. Under CI (or OTRADE_STRICT_SHM=1) the
fixture treats every new `otrade_*` segment as a leak.
"""

import itertools
import os
import time

import numpy as np

from common.dtypes import TICK_DTYPE

SHM_DIR = "/dev/shm"
SESSION_ENV = "OTRADE_TEST_SESSION"
# Child processes inherit the tag through the environment, so names stay the session's everywhere.
SESSION_TAG = os.environ.setdefault(SESSION_ENV, f"t{os.getpid()}")
_SESSION_PID = int(os.environ.setdefault(SESSION_ENV + "_PID", str(os.getpid())))
_counter = itertools.count(1)


def eventually(predicate, timeout: float = 5.0, interval: float = 0.001, message: str = ""):
    """Call `predicate` until it returns something truthy and return that; fail after `timeout` s.

    The poll interval starts at `interval` and doubles up to 50 ms, so a fast condition is seen fast
    and a slow one does not burn a core that the processes under test need.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"not true within {timeout} s: {what} (last value {value!r})")
        time.sleep(interval)
        interval = min(interval * 2, 0.05)


def unique_run_id() -> str:
    """A fresh run id for this session, <tag>-<n> (<tag>-p<pid>-<n> in a child process, whose
    counter starts again at 1): segments named otrade_<run id>_<what> count as the session's."""
    if os.getpid() == _SESSION_PID:
        return f"{SESSION_TAG}-{next(_counter)}"
    return f"{SESSION_TAG}-p{os.getpid()}-{next(_counter)}"


def unique_segment(what: str) -> str:
    """A fresh segment name for this session: otrade_<run id>_<what>."""
    return f"otrade_{unique_run_id()}_{what}"


def session_prefix() -> str:
    return f"otrade_{SESSION_TAG}-"


def strict_shm_check() -> bool:
    """True when nothing else can be creating segments (CI), so every new otrade_* one is ours."""
    return (
        os.environ.get("CI", "").lower() in ("1", "true", "yes")
        or os.environ.get("OTRADE_STRICT_SHM") == "1"
    )


def otrade_segments() -> set[str]:
    try:
        return {name for name in os.listdir(SHM_DIR) if name.startswith("otrade_")}
    except FileNotFoundError:
        return set()


def make_ticks(seqs) -> np.ndarray:
    """Ticks whose every field is a function of its sequence, so a torn or misplaced record shows.

    `seq` itself is left 0: the ring writer assigns it. Use `bad_ticks` to check what came back.
    """
    seqs = np.asarray(seqs, dtype=np.int64)
    ticks = np.zeros(len(seqs), TICK_DTYPE)
    ticks["ts_event_ns"] = seqs * 7
    ticks["ts_recv_ns"] = seqs * 11
    ticks["price"] = seqs * 0.25
    ticks["bid"] = seqs * 0.25 - 0.5
    ticks["ask"] = seqs * 0.25 + 0.5
    ticks["volume"] = seqs & 0xFFFFFFFF
    ticks["oi"] = (seqs * 3) & 0xFFFFFFFF
    ticks["qty"] = seqs % 1000 + 1
    ticks["instrument"] = seqs & 0xFFFF
    ticks["flags"] = (seqs >> 16) & 0xFFFF
    return ticks


def bad_ticks(ticks: np.ndarray) -> int:
    """How many of `ticks` do not match `make_ticks` of their own `seq` (torn or corrupt
    records)."""
    expected = make_ticks(ticks["seq"])
    expected["seq"] = ticks["seq"]
    return int(np.count_nonzero(ticks != expected))
