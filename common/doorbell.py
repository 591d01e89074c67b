"""A doorbell: an eventfd a ring writer rings to wake one sleeping reader in another process.

The ring's creator (the supervisor) makes one per reader slot and hands them to stage processes
inside their start arguments. Pickling uses `multiprocessing.reduction.DupFd`, the mechanism
multiprocessing uses for a `Connection`'s fd: under fork the child inherits the fd, under spawn and
forkserver it is passed over a Unix socket (SCM_RIGHTS); outside process start-up it goes through
multiprocessing's resource sharer. The receiving side gets its own fd for the same eventfd object.

`fileno()` is a plain readable-when-rung fd, so a stage can put it in a `zmq.Poller` (or
select/poll) next to its sockets. The fd is non-blocking: `wait()` polls with a timeout and then
drains the counter, so any number of rings while the reader slept is one wake-up.
"""

import math
import os
import select
from multiprocessing import reduction


class Doorbell:
    """One eventfd. `ring()` from any process; `wait(timeout_s)` / `fileno()` in the one reader."""

    def __init__(self, fd: int | None = None):
        if fd is None:
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._fd = fd
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    def fileno(self) -> int:
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def ring(self) -> None:
        """Wake the reader (one write syscall)."""
        os.eventfd_write(self._fd, 1)

    def wait(self, timeout_s: float) -> bool:
        """Block until rung or `timeout_s` passes; True if rung (the ring is consumed)."""
        timeout_ms = max(0, math.ceil(timeout_s * 1000.0))
        if not self._poller.poll(timeout_ms):
            return False
        return self.clear() > 0

    def clear(self) -> int:
        """Consume pending rings without blocking; returns how many there were."""
        try:
            return os.eventfd_read(self._fd)
        except BlockingIOError:
            return 0

    def close(self) -> None:
        if self._fd >= 0:
            self._poller.unregister(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        # A doorbell unpickled in a child is owned by nobody else; close its fd when it is dropped.
        fd, self._fd = getattr(self, "_fd", -1), -1
        if fd >= 0:
            os.close(fd)

    def __reduce__(self):
        if self._fd < 0:
            raise ValueError("cannot pickle a closed Doorbell")
        return _rebuild_doorbell, (reduction.DupFd(self._fd),)

    def __repr__(self) -> str:
        return f"Doorbell(fd={self._fd})"


def _rebuild_doorbell(dup_fd) -> Doorbell:
    return Doorbell(dup_fd.detach())
