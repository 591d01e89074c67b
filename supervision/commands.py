"""The supervisor's trading-state commands to orders: one channel, stamped, and its own halt re-sent
until orders acknowledges it.

Every `SetTradingState` the supervisor sends — an operator's `ctl halt/resume/flatten`
(operator.py) and its own halt when it gives up on a critical stage or cannot write its run log
(core.py) — goes to orders' command socket (topics.CMD_ORDERS), stamped by the one
`CommandStamps` of the supervisor (`ts_event_ns`, strictly increasing). Orders applies a command
once, drops one stamped at or below the last it applied (a stale or doubled delivery), and
acknowledges the stamp in its trading-state record once the effect is journaled
(common/tradingstate.py).

ZeroMQ delivers at most once: a command queued to an orders that dies is gone. An operator's
command is answered (the operator sees "no effect" and asks again). The supervisor's halt is a
standing order, `StandingHalt`: sent at once, then again every RESEND_S while orders' record does
not acknowledge it — while orders is down (nothing can be sent), after orders restarted (a new
orders acknowledges nothing until it is sent again) — so a halt orders did not live to journal
reaches the orders that replaces it; sending again a halt already journaled changes nothing (the
same state for the same reason). Should orders' record show anything but HALTED once the halt was
acknowledged, it is ordered again under a new stamp: the halt holds for the rest of this
supervisor's run, and `ctl resume` is refused meanwhile (operator.py). Once journaled it also
survives a restart of orders or of the supervisor: it is in the account day's journal, and a later
run starts HALTED with its reason until `ctl resume`. Not covered: a supervisor killed after it
decided to halt but before orders journaled it (its stages die with it; the next run starts them
afresh).
"""

from __future__ import annotations

import threading
import time

from common.messages import SetTradingState
from common.tradingstate import TradingState, read_state

RESEND_S = 0.25
HALT_PREFIX = "supervisor halted trading"


class CommandStamps:
    """Strictly increasing command stamps (wall-clock ns, never repeated or going back), shared by
    the operator desk's thread and the supervisor's loop.

    `lock` (re-entrant) makes a decision and its stamp one step: the supervisor's halt records its
    reason and takes its stamp under it, and the desk looks for that reason and takes its stamp
    under it, so a `ctl resume` that found no halt is stamped below any halt ordered after it (and
    orders, which applies in stamp order, ends HALTED whichever socket delivers first)."""

    def __init__(self, clock_ns=time.time_ns):
        self._clock_ns, self._last, self.lock = clock_ns, 0, threading.RLock()

    def next(self) -> int:
        with self.lock:
            self._last = max(int(self._clock_ns()), self._last + 1)
            return self._last


class StandingHalt:
    """The supervisor's own halt, delivered to orders until its record acknowledges it.

    `send(msg) -> bool` pushes one command to orders (False: orders is not connected); it is only
    ever called from the thread that calls `order` and `poll` (the supervisor's loop).
    """

    def __init__(self, run_dir: str, send, stamps: CommandStamps, *, clock_ns=time.monotonic_ns,
                 resend_s: float = RESEND_S):
        self.run_dir, self.send, self.stamps = run_dir, send, stamps
        self.clock_ns, self.resend_ns = clock_ns, int(resend_s * 1e9)
        self.reason = ""          # "" while the supervisor has not halted trading
        self.stamp = 0            # the stamp of the halt as last ordered
        self.sends = 0            # commands handed to the socket (first send and resends)
        self._due_ns = 0

    def order(self, why: str) -> None:
        """Halt trading for `why` (say, "gave up on feed: restart limit exceeded"): sent now, and
        again by `poll` until acknowledged. A second order for the same reason adds nothing."""
        reason = f"{HALT_PREFIX}: {why}"
        if reason == self.reason:
            return
        with self.stamps.lock:      # seen by the desk with its stamp, or not yet (CommandStamps)
            self.reason, self.stamp = reason, self.stamps.next()
        self._send()

    def poll(self) -> None:
        """On every pass of the supervisor's loop: send again if due and not acknowledged."""
        if not self.stamp or self.clock_ns() < self._due_ns:
            return
        record = read_state(self.run_dir)
        if int(record.get("command_ns") or 0) < self.stamp:
            self._send()
        elif record.get("state") != TradingState.HALTED.name:
            self.stamp = self.stamps.next()      # lifted after it was applied: ordered again
            self._send()
        else:
            self._due_ns = self.clock_ns() + self.resend_ns

    def _send(self) -> None:
        self._due_ns = self.clock_ns() + self.resend_ns
        msg = SetTradingState(ts_event_ns=self.stamp, state=TradingState.HALTED.name,
                              reason=self.reason)
        if self.send(msg):
            self.sends += 1
