"""Wait strategies: how a ring reader waits for its next sequence to be published.

Every strategy has `wait(reader, timeout_s) -> bool`: True as soon as `reader.cursor` is published,
False once `timeout_s` has passed, so a stage's loop always gets control back to check its stop flag
and heartbeat. Pick one per reader:

- `BusySpinWait`: spins inside numba with the CPU pause hint; the lowest latency, and it burns its
  core. Only one process per core may spin (two spinners sharing a core take turns by timeslice and
  both crawl), so give it a pinned core of its own.
- `YieldingWait`: a short spin, then `os.sched_yield()`; cheap on a core that other work shares.
- `BlockingWait`: sleeps on the reader's doorbell (an eventfd) with a timeout capped at
  `max_block_s` (100 ms: stages heartbeat at least that often). The reader sets its asleep flag in
  shared memory, full fence, and re-checks the published cursor before it blocks; the writer
  publishes, full fence, and rings only the readers flagged asleep. That handshake (`begin_sleep`)
  is what makes a wake-up impossible to miss, and it is why a writer serving only spinning readers
  never makes a syscall.

`tick_wait(mode)` maps a stage's resolved wait mode (config/placement.py) to one of these;
`SpinPoller` is the spinning twin of common/poller.py's StagePoller for a stage that waits on a ring
and ZeroMQ sockets together (orders with `wait: spin`).
"""

import os
import time

import zmq
from numba import njit

from common.errors import RingError
from common.fences import cpu_pause, fence_acquire, fence_seq_cst
from common.poller import StagePoller


@njit(cache=True)
def spin_until(published_cell, cursor, spins):
    """Spin up to `spins` times until published_cell[0] >= cursor; True if it got there."""
    for _ in range(spins):
        if published_cell[0] >= cursor:
            return True
        cpu_pause()
        fence_acquire()  # re-load the cell each round: LLVM may not hoist the load out of the loop
    return published_cell[0] >= cursor


@njit(cache=True)
def begin_sleep(asleep_cell, published_cell, cursor):
    """Flag the reader asleep, then re-check: True if it may block (nothing at `cursor` yet)."""
    asleep_cell[0] = 1
    fence_seq_cst()  # the flag must be visible before we look at the cursor (store -> load)
    if published_cell[0] >= cursor:
        asleep_cell[0] = 0
        return False
    return True


class BusySpinWait:
    """Spin in numba, `spins_per_call` pauses per kernel call, checking the deadline between
    calls."""

    needs_doorbell = False

    def __init__(self, spins_per_call: int = 20_000):
        self.spins_per_call = spins_per_call

    def wait(self, reader, timeout_s: float) -> bool:
        cell = reader.ring.published_cell
        deadline = time.monotonic() + timeout_s
        while not spin_until(cell, reader.cursor, self.spins_per_call):
            if time.monotonic() >= deadline:
                return False
        return True


class YieldingWait:
    """Spin `spins` pauses, then give the core away with sched_yield, until the deadline."""

    needs_doorbell = False

    def __init__(self, spins: int = 100):
        self.spins = spins

    def wait(self, reader, timeout_s: float) -> bool:
        cell = reader.ring.published_cell
        deadline = time.monotonic() + timeout_s
        while not spin_until(cell, reader.cursor, self.spins):
            if time.monotonic() >= deadline:
                return False
            os.sched_yield()
        return True


class BlockingWait:
    """Block on the reader's doorbell, at most `max_block_s` per block, after `spins` pauses of
    spinning."""

    needs_doorbell = True

    def __init__(self, max_block_s: float = 0.1, spins: int = 0):
        if max_block_s <= 0:
            raise RingError(
                "BlockingWait needs a positive max_block_s: stages must wake to heartbeat"
            )
        self.max_block_s = max_block_s
        self.spins = spins

    def wait(self, reader, timeout_s: float) -> bool:
        cell = reader.ring.published_cell
        deadline = time.monotonic() + timeout_s
        while not spin_until(cell, reader.cursor, self.spins):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if reader.begin_sleep():
                try:
                    reader.doorbell.wait(min(remaining, self.max_block_s))
                finally:
                    reader.end_sleep()
        return True


def tick_wait(mode: str):
    """The ring wait for a resolved wait mode: "spin", "yield" or "block"."""
    if mode == "spin":
        return BusySpinWait()
    if mode == "yield":
        return YieldingWait()
    if mode == "block":
        return BlockingWait()
    raise RingError(f"unknown wait mode {mode!r} (spin, yield or block)")


class SpinPoller:
    """StagePoller's interface without ever sleeping: polls the reader's ring and the sockets (a
    zero-timeout poll, one syscall every `sockets_every` ring checks) until either has something.
    The reader is never flagged asleep, so its writer never rings the doorbell for it. Burns its
    core: for a stage placed alone on its cores only (config/placement.py refuses anything else).
    """

    def __init__(self, sockets=(), reader=None, sockets_every: int = 64):
        self.poller = zmq.Poller()
        self.reader = reader
        self.sockets_every = sockets_every
        for sock in sockets:
            self.poller.register(sock, zmq.POLLIN)

    def wait(self, timeout_s: float) -> set:
        """Spin up to timeout_s; return the readable sockets (ring records: check the reader)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for _ in range(self.sockets_every):
                if self.reader is not None and self.reader.available() > 0:
                    return set(s for s, _ in self.poller.poll(0))
            ready = set(s for s, _ in self.poller.poll(0))
            if ready or time.monotonic() >= deadline:
                return ready

    def add(self, sock) -> None:
        self.poller.register(sock, zmq.POLLIN)


def ring_poller(mode: str) -> type:
    """The poller for a stage that waits on a ring and sockets together: SpinPoller for "spin",
    StagePoller (blocks on the doorbell and the sockets) otherwise."""
    return SpinPoller if mode == "spin" else StagePoller
