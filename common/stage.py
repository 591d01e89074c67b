"""What every stage process does around its own work: pin, watch its parent, beat, report, stop.

A stage's `run(ctx)` is:

    rt = StageRuntime.enter(ctx)          # pin to cores, parent-death signal, attach stage table
    ...build sockets (only now: zmq I/O threads inherit the affinity mask set above)...
    rt.ready()
    while not rt.should_stop: ...one step...; rt.beat()
    ...drain, write final state...
    rt.leave()

Ordering matters: the process pins itself before anything creates a ZeroMQ context, because the
context's I/O threads take the affinity mask of the thread that creates them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psutil

from common import gcpolicy
from common import stagetable as st
from common.clock import mono_ns
from common.errors import StageError
from common.shm import RELEASED

if TYPE_CHECKING:     # names for annotations only: common imports nothing above it at run time
    from common.ringbuffer import RingHandle
    from config.schema import Config
    from config.secrets import Secrets

PR_SET_PDEATHSIG = 1
# What is left once a stage has left its row: os._exit (supervision/entry.py) and the kernel's
# teardown of the process, which a starved CPU stretches to seconds (10 s seen at nice 19 beside a
# busy loop on its core). The stop ladder waits that long before it signals a stage that left.
EXIT_BOUND_S = 30.0


@dataclass(frozen=True)
class StageContext:
    """Everything a stage needs, picklable, handed over by the supervisor at spawn."""

    stage: str
    run_id: str
    run_dir: str
    cores: tuple[int, ...]
    config: Config                 # frozen msgspec Struct
    secrets: Secrets               # masked repr
    ring: RingHandle               # segment name + doorbells
    instruments_segment: str
    stagetable_segment: str
    endpoints: dict[str, str] = field(default_factory=dict)  # logical name -> zmq endpoint
    segments: dict[str, str] = field(default_factory=dict)   # logical name -> extra shm segment
    restarts: int = 0
    supervisor_pid: int = 0
    exclusive_cores: bool = False  # no other stage shares these cores: this stage may busy-spin
    # How the stage waits for work: "spin", "yield" or "block", resolved by the launcher from
    # `stages.<name>.wait` (config/placement.py). "auto": not resolved (a context built by hand).
    wait: str = "auto"
    # Where a spinning stage's zmq I/O threads go: on its own core they would wait for the spinner
    # to be preempted (a scheduler slice, ~1 ms) before a message it sent leaves the process.
    io_cores: tuple[int, ...] = ()
    # The intent ring (common/intentring.py), signals -> orders: a RingHandle, or None in tests.
    intent_ring: RingHandle | None = None
    # Where the broker account's durable state lives (journals, the paper book, the reconcile
    # baseline): the account's trading day (supervision/accountday.py), or the run dir for a
    # replay or a run-private venue. Empty: the run dir.
    state_dir: str = ""

    @property
    def state(self) -> str:
        return self.state_dir or self.run_dir


def pin_to_cores(cores) -> list[int]:
    """Pin this process to `cores` and return the mask the kernel actually applied."""
    proc = psutil.Process()
    proc.cpu_affinity(list(cores))
    return sorted(proc.cpu_affinity())


def die_with_parent(expected_parent: int) -> None:
    """Ask the kernel to SIGKILL us when our parent dies, then close the race where it already did.

    The parent is the forkserver, which exits as soon as the supervisor does, so a SIGKILLed
    supervisor takes every stage with it within milliseconds instead of leaving orphans that keep
    trading.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: fall back to the getppid check in beat()
        pass
    if expected_parent and os.getppid() != expected_parent:
        os._exit(70)


class StageRuntime:
    """The stage's side of the stage table and of the stop protocol."""

    def __init__(self, ctx: StageContext, table: st.StageTable):
        self.ctx = ctx
        self.table = table
        self.row = table.row(ctx.stage)
        self.counters = self.row["counters"]      # numpy view: stages increment in place
        self.lat_ns = self.row["lat_ns"]
        self._parent = os.getppid()
        self._stop = False
        self._last_parent_check = 0

    @classmethod
    def enter(cls, ctx: StageContext) -> "StageRuntime":
        die_with_parent(os.getppid())
        applied = pin_to_cores(ctx.cores)
        if applied != sorted(ctx.cores):
            raise StageError(
                f"{ctx.stage}: asked for cores {list(ctx.cores)}, kernel applied {applied}"
            )
        table = st.StageTable.attach(ctx.stagetable_segment)
        rt = cls(ctx, table)
        signal.signal(signal.SIGTERM, rt._on_sigterm)
        # Ctrl-C goes to the supervisor, which stops us in order
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)   # so does a closed terminal's SIGHUP
        rt.claim_row()
        return rt

    def claim_row(self) -> None:
        """This process now owns the stage's row. What the previous process left there goes: a
        bounded call it was killed in must not shield this one from the hang check and the stop
        ladder until that call's bound runs out."""
        self.row["pid"] = os.getpid()
        self.row["started_ns"] = mono_ns()
        self.row["ready_ns"] = 0
        self.row["blocked_until_ns"] = 0
        self.row["state"] = st.STARTING
        self.beat()

    def _on_sigterm(self, signum, frame) -> None:
        self._stop = True

    def beat(self) -> None:
        now = mono_ns()
        self.row["heartbeat_ns"] = now
        # An orphan must never keep trading: if the parent-death signal could not be armed, notice
        # here.
        if now - self._last_parent_check > 200_000_000:
            self._last_parent_check = now
            if os.getppid() != self._parent:
                os._exit(70)

    def progress(self, n: int = 1) -> None:
        """A unit of stop-drain work done (a batch of ticks applied, a broker poll while
        flattening): the stop ladder extends this stage's grace while this moves (issue 11.7)."""
        self.row["progress"] += n
        self.beat()

    @contextlib.contextmanager
    def blocked(self, bound_s: float) -> Iterator[None]:
        """Around a call that waits for someone else for at most `bound_s` (a broker request,
        bounded by its connect and read timeouts). While it is in flight the stop ladder counts no
        silence: a broker answering a stop's cancel in 3 s is slow, not hung, and a stage killed
        for it leaves its orders working at the broker. Its end, answered or failed, is progress.
        A call still in flight past its bound counts as silence again, so a hang is signalled."""
        self.row["blocked_until_ns"] = mono_ns() + int(bound_s * 1e9)
        try:
            yield
        finally:
            self.row["blocked_until_ns"] = 0
            self.progress()

    @property
    def should_stop(self) -> bool:
        return self._stop or bool(self.row["stop_requested"])

    def ready(self) -> None:
        """Report READY: from here the supervisor judges this stage by its heartbeat.

        Every kernel the stage runs must be compiled (or loaded from numba's cache) by now: the
        forkserver's warm modules do it. A compile after READY stalls the loop for seconds on a busy
        machine, so it is logged by name as a warm-up gap to fix (`_log_late_compiles`).
        """
        self.row["ready_ns"] = mono_ns()
        self.row["state"] = st.READY
        self.beat()
        _log_late_compiles(self.ctx.stage)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[st.counter_index(self.ctx.stage, name)] += n

    def set_count(self, name: str, value: int) -> None:
        self.counters[st.counter_index(self.ctx.stage, name)] = value

    def leave(self, finished: bool = False) -> None:
        """Mark the row STOPPED (or FINISHED: a finite feed ran out) and detach. What is left is
        the process's exit: a bounded wait (`blocked`), however long a starved CPU makes it."""
        self.row["state"] = st.FINISHED if finished else st.STOPPED
        self.row["blocked_until_ns"] = mono_ns() + int(EXIT_BOUND_S * 1e9)
        self.beat()
        self.row = self.counters = self.lat_ns = RELEASED
        self.table.close()


def _log_late_compiles(stage: str) -> None:
    """Log every numba JIT compile from now on in this process (a kernel its warm module missed)."""
    try:
        from numba.core import event
    except ImportError:
        return
    from common.log import get_logger

    logger = get_logger(stage)

    class LateCompile(event.Listener):
        def on_start(self, ev) -> None:
            dispatcher = (ev.data or {}).get("dispatcher")
            name = getattr(getattr(dispatcher, "py_func", None), "__qualname__", repr(dispatcher))
            logger.warning("kernel compiled after READY (warm-up gap)", kernel=name)

        def on_end(self, ev) -> None:
            pass

    event.register("numba:compile", LateCompile())


def run_stage(ctx: StageContext, make) -> int:
    """Every stage's main loop: enter, build, start, READY, step + beat until stopped, finish,
    leave.

    `make(ctx, rt)` builds the stage object, which provides `start()` (sockets, recovery, warm-up),
    `step() -> bool` (one unit of work; False means a finite input ended), `finish()` (drain, final
    state) and `close()` (release everything; must work after a failed start).
    """
    rt = StageRuntime.enter(ctx)
    stage = make(ctx, rt)
    finished = False
    try:
        stage.start()
        gcpolicy.apply(ctx.config.run.gc)    # after start-up's allocations, before the first tick
        rt.ready()
        while not rt.should_stop:
            if stage.step() is False:
                finished = True
                break
            rt.beat()
        rt.progress()            # the drain has begun: the stop ladder now measures it by progress
        stage.finish()
    finally:
        stage.close()
        rt.leave(finished=finished)
    return 0
