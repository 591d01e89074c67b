"""One supervised stage: its process, its restart policy and its lifecycle bookkeeping.

Processes come from a multiprocessing **forkserver** whose preload list imports numpy, numba and
each stage's warm module: a (re)started stage is a fork of that template, with compiled kernels
already in memory and no ZeroMQ context yet, so it is ready in milliseconds and never compiles
during trading. A restart does not even wait for that fork: it starts in the spare parked for it
(supervision/spare.py), which has been forked and bootstrapped ahead.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from dataclasses import replace
from multiprocessing.process import BaseProcess

import psutil

from supervision.entry import stage_main
from supervision.policy import RestartPolicy
from supervision.spare import Spare


def forkserver_context(preload: list[str]):
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(preload)
    return ctx


def start_forkserver() -> None:
    """Start the forkserver now, with SIGHUP ignored (issue 11.3).

    A closed terminal or a dropped ssh session sends SIGHUP to the whole foreground process group:
    the forkserver would die of it, and every stage with it (their parent-death signal). An ignored
    signal stays ignored across exec and fork, so the forkserver and every stage it forks ignore
    SIGHUP, and the supervisor alone turns it into the same clean stop as SIGTERM.
    """
    from multiprocessing import forkserver

    from supervision.forkmain import MAIN_VAR, main_of_parent

    # what every child would otherwise run again, for supervision/forkmain.py to import in the
    # forkserver once
    os.environ[MAIN_VAR] = main_of_parent()
    try:
        _with_hup_ignored(forkserver.ensure_running)
    finally:
        os.environ.pop(MAIN_VAR, None)


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (it tracks our shared-memory segments) with SIGHUP
    ignored, before the first segment exists: killed by a terminal's SIGHUP it would be relaunched
    empty at teardown and fail on every segment it was told to forget."""
    from multiprocessing import resource_tracker

    _with_hup_ignored(resource_tracker.ensure_running)


def _with_hup_ignored(start) -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        start()
    finally:
        signal.signal(signal.SIGHUP, previous)


class StageProcess:
    """Parameters
    ----------
    spares : keep a spare process parked for the next restart (supervision/spare.py); the
        supervisor says when (`park_spare`).
    """

    def __init__(self, mpctx, name: str, module: str, stage_ctx, policy: RestartPolicy, *,
                 spares: bool = False):
        self.mpctx = mpctx
        self.name = name
        self.module = module
        self.stage_ctx = stage_ctx
        self.policy = policy
        self.proc: BaseProcess | None = None
        self.restarts = 0
        self.restart_due: float | None = None   # monotonic time a restart is scheduled for
        self.gave_up = False
        self.spawned_at = 0.0
        # set while starting: READY by then, or it is killed
        self.ready_deadline: float | None = None
        self.became_ready = False                  # READY (or FINISHED) seen since the last spawn
        self.killed_as_hung = False
        # why the supervisor SIGKILLed it ("" if it did not)
        self.kill_reason = ""
        self.stopping = False
        self.spares = spares
        self.spare: Spare | None = None
        self.spare_due: float | None = None        # when the supervisor parks the next spare
        self.from_spare = False                    # the process spawned last was a spare

    @property
    def starting(self) -> bool:
        return self.proc is not None and self.ready_deadline is not None

    @property
    def pid(self) -> int:
        proc = self.proc  # read once: the health thread may ask while the main thread reaps
        return (proc.pid or 0) if proc is not None else 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.exitcode is None

    @property
    def sentinel(self):
        return self.proc.sentinel if self.proc is not None else None

    def _spawned(self) -> BaseProcess:
        if self.proc is None:
            raise RuntimeError(f"{self.name}: no process (not spawned, or already reaped)")
        return self.proc

    def spawn(self) -> int:
        """Start the stage: the parked spare if there is one alive, else a new fork."""
        spare, self.spare = self.spare, None
        proc = spare.start(self.restarts) if spare is not None else None
        self.from_spare = proc is not None
        if proc is None:
            ctx = replace(self.stage_ctx, restarts=self.restarts)
            proc = self.mpctx.Process(
                target=stage_main, args=(self.module, ctx), name=f"otrade-{self.name}",
                daemon=False
            )
            self.proc = proc
            proc.start()
        self.proc = proc
        self.spawned_at = time.monotonic()
        self.killed_as_hung = False
        self.kill_reason = ""
        self.became_ready = False
        self.restart_due = None
        return self.pid

    def park_spare(self) -> None:
        """Fork the spare the next restart will start from, unless there is one (or spares are
        off)."""
        if self.spares and self.spare is None:
            self.spare = Spare.fork(self.mpctx, self.name, self.module, self.stage_ctx)

    def drop_spare(self) -> None:
        spare, self.spare = self.spare, None
        if spare is not None:
            spare.drop()

    def affinity(self) -> list[int]:
        try:
            return sorted(psutil.Process(self.pid).cpu_affinity())
        except psutil.Error:
            return []

    def exit_status(self) -> tuple[int | None, int | None]:
        """(exit code, signal number) of a finished process."""
        code = self._spawned().exitcode
        if code is None:
            return None, None
        if code < 0:
            return None, -code
        return code, None

    def reap(self) -> None:
        """Collect the dead process and release its sentinel (the one place that joins)."""
        proc = self._spawned()
        proc.join(timeout=0)
        proc.close()
        self.proc = None

    def send(self, sig: int) -> None:
        proc = self.proc
        if proc is not None and proc.exitcode is None and proc.pid:   # never 0: a process group
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send(signal.SIGKILL)
