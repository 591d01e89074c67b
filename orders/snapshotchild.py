"""The orders stage's side of its snapshot writer process (orders/snapshotprocess.py): start it,
notice it died and start it again with a backoff, stop it with the stage.

Why the stage owns it rather than the supervisor: the writer's input is the stage's journal and its
configuration is the stage's, and its life is the stage's life. As the stage's child it dies with
it (parent-death signal), so an orders restart never finds a writer of the previous process, and
the supervisor's stage table, restart policy and stop order stay about the four stages.

What it costs the orders loop: `watch` reads the clock once per step, and every WATCH_NS one
non-blocking waitpid. Starting the writer is a vfork+exec (subprocess, no preexec hook) after
READY, never during recovery; stopping it is a SIGKILL. A writer that died is counted
(`snapshot_writer_restarts`) and started again after BACKOFF_NS (doubling to BACKOFF_MAX_NS while it
keeps dying young): until then a restart reads more journal, and trading never waits for it.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable

from common import rundir
from common.atomicfile import write_atomic
from common.clock import mono_ns
from config.placement import helper_cores
from orders.snapshot import MIN_EVENTS, MIN_INTERVAL_NS, SNAPSHOT_FILE
from orders.snapshotprocess import WriterArgs, remove_stale_temporaries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WATCH_NS = 500_000_000
BACKOFF_NS = 1_000_000_000
BACKOFF_MAX_NS = 60_000_000_000
REAP_WAIT_S = 0.1


class SnapshotChild:
    """Parameters
    ----------
    args : what the writer runs with; written to `args_path` (private: the run dir) at each start.
    cores : where it is pinned (the stage's non-spinning cores).
    lead, since_seq : the writer is first started once the journal is `lead` records past the
        snapshot loaded at start (`since_seq`, 0 for none). A quiet day's journal is cheap to read
        whole, and a process of ~0.5 s CPU for each orders (re)start would be spent for nothing.
    """

    def __init__(self, args: WriterArgs, args_path: str, cores, log, *,
                 clock: Callable[[], int] = mono_ns, lead: int = 0, since_seq: int = 0):
        self.args, self.args_path, self.log, self._clock = args, args_path, log, clock
        self._first_at_seq = since_seq + lead     # journal seq at which the first writer starts
        self._since_seq = since_seq
        self._journal_seq = 0                     # the journal's last seq at the last watch
        self.started = False
        self.cores = ",".join(str(c) for c in cores)
        self.proc: subprocess.Popen | None = None
        self.restarts = 0               # writers started again after one died
        self._due_ns = clock()          # when to start one (none running)
        self._check_ns = 0
        self._backoff_ns = BACKOFF_NS
        self._started_ns = 0

    @classmethod
    def of_stage(cls, ctx, journal_path: str, rows, log, since_seq: int) -> "SnapshotChild":
        """The orders stage's writer (its context, journal and instrument rows), first started a
        MIN_EVENTS lead past `since_seq`, the snapshot on disk."""
        args = WriterArgs(ctx.state, journal_path, ctx.config, rows,
                          os.path.join(ctx.run_dir, "logs", "orders.log"),
                          durable=ctx.config.journal.fsync != "never", min_events=MIN_EVENTS,
                          min_interval_ns=MIN_INTERVAL_NS)
        # A spinning orders has its core alone: the writer goes where its zmq I/O threads go.
        return cls(args, os.path.join(ctx.run_dir, rundir.ORDERS_SNAPSHOT_ARGS),
                   helper_cores(ctx), log, lead=MIN_EVENTS, since_seq=since_seq)

    def watch(self, journal_seq: int = 0) -> None:
        """From the stage's loop (`journal_seq`: the orders journal's last): start the writer when
        due; notice it died."""
        if not self.started and journal_seq < self._first_at_seq:
            return
        self._journal_seq = journal_seq
        now = self._clock()
        if now < self._check_ns:
            return
        self._check_ns = now + WATCH_NS
        if self.proc is None:
            if now >= self._due_ns:
                try:
                    self.start()
                except OSError as e:        # a full disk, no such interpreter: never our loop's
                    self._failed(now, f"not started: {e!r}")
            return
        code = self.proc.poll()
        if code is not None:
            self.proc = None
            self._failed(now, f"exited with {code}")

    def _failed(self, now: int, why: str) -> None:
        self.restarts += 1
        lived = now - self._started_ns
        # One that ran a good while died of something new: start over from the short backoff.
        self._backoff_ns = BACKOFF_NS if lived > BACKOFF_MAX_NS else \
            min(self._backoff_ns * 2, BACKOFF_MAX_NS)
        self._due_ns = now + self._backoff_ns
        self.log.warning("orders snapshot writer down: started again after a backoff", why=why,
                         backoff_ms=self._backoff_ns // 1_000_000)

    @property
    def behind(self) -> int:
        """Records the writer has to catch up at its start, as the stage counts them: since the
        snapshot on disk at the stage's start (a writer started again after one died may have
        written since: it is then told more than it has to do, and drops to idle once it
        writes)."""
        return max(0, self._journal_seq - self._since_seq)

    def start(self) -> None:
        self.started = True
        self._started_ns = self._clock()
        write_atomic(self.args_path, pickle.dumps(self.args, pickle.HIGHEST_PROTOCOL),
                     durable=False)
        env = dict(os.environ)
        # The writer runs this very code (its snapshots carry a digest of it: orders/snapshot.py).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
        # Its stderr (a crash before its logging is set up) goes to the stage's log.
        with open(self.args.log_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orders.snapshotprocess", self.args_path,
                 str(os.getpid()), self.cores, str(self.behind)],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                close_fds=True)

    def stop(self) -> None:
        """Kill it and reap it, without waiting for a last snapshot: at a stop the stage's close
        must not outlast the stop ladder (a starved idle-priority writer could take any time), and
        the next start applies at most one cadence of tail instead."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        try:
            proc.wait(REAP_WAIT_S)
        except subprocess.TimeoutExpired:    # dying (SIGKILL pending): init reaps it after us
            pass
        # Killed inside a write, it leaves its temporary (common/atomicfile.py): only the next
        # writer's start would remove it, and after the day's last stop there is none.
        try:
            remove_stale_temporaries(self.args.state_dir, SNAPSHOT_FILE)
        except OSError as e:
            self.log.warning("orders snapshot writer's temporary not removed", error=repr(e))
