"""A spare stage process: forked from the forkserver ahead of need and parked, so a restart starts
at the stage's own code instead of at a fork.

Measured on the 2-vCPU VM (busy core 0, SIGKILL → READY of an idle stage): the forkserver's fork
of its template (numpy, numba, LLVM, every stage module) took 4-9 ms; the child's multiprocessing
bootstrap (reading its preparation data, unpickling the stage context, running the after-fork
hooks over a copy-on-write heap) 6-11 ms more, ~5 ms of it CPU; then the log set-up. A spare has
done all of that already: a restart writes the restart count into its pipe, and it goes on from
there as `supervision/entry.stage_main` would.

What a spare is not: a stage. It has attached nothing (no shared memory, no journal, no socket,
no lock), has no stage-table row and sends no heartbeat, so a parked spare can never act on the
account or be mistaken for the stage. What a stage reads at its start (its ring cursor, its
journal's end) it reads after the go, when the stage it replaces is dead and reaped.

Its life: the supervisor parks one per stage once every stage is READY, and again after each
restart has gone READY (never while a stage is starting: the fork would take the CPU a restart
needs). It ends when the supervisor closes the pipe (the stop; or the supervisor died: its end of
the pipe closes with it, and the spare reads EOF) and is reaped here. A spare found dead at a
restart is reaped and the restart forks a new process as before.
"""

from __future__ import annotations

from multiprocessing.process import BaseProcess

from supervision.entry import spare_main

DROP_WAIT_S = 1.0     # for a dropped spare to read EOF and exit before it is killed


class Spare:
    def __init__(self, proc: BaseProcess, go):
        self.proc = proc
        self._go = go       # the write end of its pipe (multiprocessing Connection)

    @classmethod
    def fork(cls, mpctx, name: str, module: str, stage_ctx) -> "Spare":
        """Fork a spare of the stage `name` (its context as every restart gets it, but the restart
        count, which comes through the pipe)."""
        parked, go = mpctx.Pipe(duplex=False)
        proc = mpctx.Process(target=spare_main, args=(module, stage_ctx, parked),
                             name=f"otrade-{name}", daemon=False)
        try:
            proc.start()
        except BaseException:
            go.close()
            raise
        finally:
            parked.close()            # the spare has its own copy
        return cls(proc, go)

    @property
    def pid(self) -> int:
        return self.proc.pid or 0

    def start(self, restarts: int) -> BaseProcess | None:
        """Turn the spare into the stage's process (its `restarts`); None if it is gone (reaped
        here: the caller forks a new process)."""
        try:
            if self.proc.exitcode is None:
                self._go.send_bytes(b"%d" % restarts)
                return self.proc
        except OSError:               # died since: its end of the pipe is closed
            pass
        finally:
            self._go.close()
        self._reap()
        return None

    def drop(self) -> None:
        """No longer wanted: closing the pipe ends it; reaped here (killed if it lingers)."""
        self._go.close()
        self._reap()

    def _reap(self) -> None:
        self.proc.join(DROP_WAIT_S)
        if self.proc.exitcode is None:
            self.proc.kill()
            self.proc.join(DROP_WAIT_S)
        if self.proc.exitcode is not None:
            self.proc.close()
