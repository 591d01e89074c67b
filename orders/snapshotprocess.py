"""The orders snapshot writer's process: `python -m orders.snapshotprocess ARGS PARENT_PID CORES
[BEHIND]` (BEHIND: journal records its snapshot lags at its start, as the stage counts them).

Started by the orders stage (orders/snapshotchild.py), it tails the orders journal, applies its
records to a shadow engine and writes the snapshot atomically every so many records and seconds
(orders/snapshotwriter.py), so that the orders loop never spends a millisecond on it.

How it stays out of the way and never outlives the run:
- Idle scheduling (SCHED_IDLE), set before anything else: on the core it shares with orders it runs
  only when nothing else wants that core, and a waking orders preempts it at once. On a core that
  is never idle it would starve for good (seen on a saturated busy day: no snapshot between two
  restarts, each restart reading a longer tail), so while it is FAR_BEHIND (at its start, as the
  stage counts, or with that many records applied and not yet saved) it runs as an ordinary
  process at nice 19 instead: a small share that a saturated core still grants (CFS weight 15
  against 1,024 for each busy stage), back to idle once it has written (`schedule` says when the
  kernel allows the way back). A restart that finds a tail that long saves it itself
  (orders/snapshotrestart.py).
- Pinned like the stage that started it (its non-spinning cores: orders/snapshotchild.py).
- The kernel SIGKILLs it when orders dies (PR_SET_PDEATHSIG, common/stage.py's die_with_parent):
  orders dies with the forkserver, which dies with the supervisor, so a SIGKILL anywhere up the
  chain takes the writer too. It creates no shared memory and no sockets.
- It blocks between steps (sigtimedwait on SIGTERM with a timeout): never spins. SIGTERM ends it
  between steps; the stage's stop SIGKILLs it (an atomic write leaves the previous snapshot).
- A failure (full disk, unreadable journal) logs and exits 1: the stage restarts it with a
  backoff; until then restarts read more journal, trading goes on.

Imports only the standard library at the top: the heavy modules come after the priority and the
parent-death signal are set.
"""

from __future__ import annotations

import glob
import os
import pickle
import signal
import sys
from dataclasses import dataclass
from typing import Any

POLL_S = 0.5            # between steps: the snapshot trails the journal by about this much more
FAR_BEHIND = 4_000      # records unsaved: the writer asks for a small share of CPU (see above)
SHARE_NICE = 19


@dataclass(frozen=True)
class WriterArgs:
    """What the writer needs, pickled to a file by the stage (the pids and cores go on the command
    line: they are needed before anything is unpickled)."""

    state_dir: str              # the account day's: the journal and the snapshot beside it
    journal_path: str
    config: Any                 # config.schema.Config, the stage's (the shadow is built from it)
    rows: Any                   # the instrument table's rows (INSTRUMENT_DTYPE)
    log_path: str
    durable: bool               # fsync the snapshot (the journal's fsync setting says)
    min_events: int
    min_interval_ns: int
    poll_s: float = POLL_S


def schedule(far_behind: bool) -> None:
    """Idle scheduling, or (`far_behind`) an ordinary one at nice SHARE_NICE (set first, and
    kept). Leaving idle scheduling needs CAP_SYS_NICE or an RLIMIT_NICE of 1 or more: refused
    (EPERM), the writer stays idle; so an unprivileged writer far behind at its start runs at nice
    SHARE_NICE until its first write, and at idle from then on."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, SHARE_NICE)
        policy = os.SCHED_OTHER if far_behind else os.SCHED_IDLE
        if os.sched_getscheduler(0) != policy:
            os.sched_setscheduler(0, policy, os.sched_param(0))
    except (AttributeError, OSError):     # not Linux: the lowest ordinary priority throughout
        pass


def remove_stale_temporaries(state_dir: str, name: str) -> None:
    """A writer killed mid-write (orders died) leaves its temporary (common/atomicfile.py)."""
    for path in glob.glob(os.path.join(glob.escape(state_dir), f".{name}.*.tmp")):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def main(argv: list[str]) -> int:
    args_path, parent_pid, cores = argv[0], int(argv[1]), [int(c) for c in argv[2].split(",")]
    schedule(len(argv) > 3 and int(argv[3]) >= FAR_BEHIND)
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the supervisor stops the run, in order
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})   # taken by sigtimedwait only
    from common.stage import die_with_parent, pin_to_cores

    die_with_parent(parent_pid)
    pin_to_cores(cores)
    with open(args_path, "rb") as f:
        args: WriterArgs = pickle.load(f)
    return run(args, parent_pid)


def run(args: WriterArgs, parent_pid: int) -> int:
    from common import log
    from common.errors import OTradeError
    from orders.engine import OrderEngine
    from orders.snapshot import SNAPSHOT_FILE, context_digest
    from orders.snapshotwriter import SnapshotWriter, never_emit

    with open(args.log_path, "a", buffering=1) as stream:
        log.configure(getattr(args.config.run, "log_level", "INFO"), stream=stream)
        logger = log.get_logger("orders.snapshots")
        remove_stale_temporaries(args.state_dir, SNAPSHOT_FILE)
        writer = SnapshotWriter(
            os.path.join(args.state_dir, SNAPSHOT_FILE), args.journal_path,
            lambda: OrderEngine.from_config(args.config, args.rows, None, never_emit),
            context_digest(args.config, args.rows), durable=args.durable,
            min_events=args.min_events, min_interval_ns=args.min_interval_ns)
        try:
            while True:
                writer.step()
                schedule(writer.unsaved >= FAR_BEHIND)
                stop = signal.sigtimedwait({signal.SIGTERM}, args.poll_s) is not None
                if stop or os.getppid() != parent_pid:
                    return 0
        except (OSError, OTradeError, pickle.PicklingError, RuntimeError) as e:
            logger.error("orders snapshot writer failed: restarts read more journal until it is "
                         "back", error=repr(e))
            return 1
        finally:
            writer.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
