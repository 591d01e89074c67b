"""Waiting for "anything to do" in an event-driven stage: ZeroMQ sockets and the tick ring together.

Stages other than `signals` must not spin (only one process may busy-poll on this machine), so they
block in one `zmq.Poller` call on their sockets plus the ring reader's doorbell (an eventfd). The
reader flags itself asleep first, so the ring writer rings the doorbell only for a sleeping reader,
and re-checks the cursor after flagging, so a tick published in between is never slept through.
"""

from __future__ import annotations

import zmq


class StagePoller:
    def __init__(self, sockets=(), reader=None):
        self.poller = zmq.Poller()
        self.reader = reader
        for sock in sockets:
            self.poller.register(sock, zmq.POLLIN)
        self._bell = reader.doorbell if reader is not None else None
        if self._bell is not None:
            self.poller.register(self._bell.fileno(), zmq.POLLIN)

    def wait(self, timeout_s: float) -> set:
        """Block up to timeout_s; return the sockets that are readable (ticks: check the reader)."""
        if self.reader is not None and self.reader.available() > 0:
            return set(s for s, _ in self.poller.poll(0) if not isinstance(s, int))
        slept = self.reader is not None and self._bell is not None and self.reader.begin_sleep()
        try:
            if self.reader is not None and not slept and self.reader.available() > 0:
                timeout_s = 0.0
            ready = self.poller.poll(int(timeout_s * 1000))
        finally:
            if slept:
                self.reader.end_sleep()
                self._bell.clear()
        return set(s for s, _ in ready if not isinstance(s, int))

    def add(self, sock) -> None:
        self.poller.register(sock, zmq.POLLIN)
