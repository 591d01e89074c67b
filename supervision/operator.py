"""What the supervisor does with an operator's `ctl` command (the channel is control.py).

    status     the same JSON as /health (nothing is sent anywhere)
    halt       SetTradingState(HALTED) to orders; answered once orders acknowledged it HALTED
    resume     SetTradingState(ACTIVE); answered once ACTIVE, or at once with orders' refusal when
               reconciliation still finds a difference with the broker (never ACTIVE on a mismatch)
               or a flatten is not done (the refusal names what is left and what to do about it);
               refused without sending anything while the supervisor's own halt stands (it gave up
               on a critical stage: that halt holds for the rest of the run, commands.py)
    flatten    SetTradingState(HALTED) + FlattenAll: working orders canceled (ours at the broker
               that the journal does not know too), positions closed; answered once
               positions.json is flat.
               Trading stays HALTED until `resume`
    reconcile  RequestReconcile: orders compares with the broker now; answered with what it found
               once the check is confirmed (orders/reconciler.py)
    adopt      RequestReconcile(adopt=True): the broker's positions and orders become the baseline
               once every difference in them is confirmed (a fill of ours in flight is read first,
               not adopted); ACTIVE again if reconciliation had halted trading. During a flatten,
               entries in doubt whose row the broker's book cannot show are released first (the
               way out a refused resume names: orders/resume.py)
Commands go over orders' one command socket (topics.CMD_ORDERS, which positions and the supervisor's
own halt use too), each stamped by the supervisor's CommandStamps (commands.py: orders drops a stale
or doubled one); the effect is read back from what orders writes for the status (its trading-state
record, orders.reconcile.json, positions.json), for at most WAIT_S. Every command but status is
appended to `ctl.jsonl` in the run directory (when, what, why, result) and the last few are shown
in the status under "operator".
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import time

import orjson
import zmq

from common import rundir
from common.bus import Pusher, make_context
from common.messages import FlattenAll, RequestReconcile, SetTradingState
from common.reconcilestate import read_result
from common.tradingstate import TradingState, acknowledged, read_flatten_ack
from supervision.commands import CommandStamps

HINT = (
    "operator: python supervisor.py ctl status|halt|resume|flatten|reconcile|adopt [--run-dir DIR]"
)
JOURNAL = rundir.CTL_LOG
RESUME_REFUSED = "resume refused"   # how orders' trading-state reason starts when it refused one
WAIT_S = {"halt": 15.0, "resume": 15.0, "flatten": 60.0, "reconcile": 30.0, "adopt": 30.0}
CONNECT_S = 3.0     # a fresh PUSH socket needs a moment to connect before IMMEDIATE lets it send
POLL_S = 0.05


def commands_for(cmd: str, reason: str, sent_ns: int = 0) -> list:
    """The messages to orders that carry one operator command, in order, stamped `sent_ns` (orders
    applies a trading state once and in stamp order, common/tradingstate.py, and acknowledges a
    flatten: common/tradingstate.write_flatten_ack)."""
    if cmd == "halt":
        return [SetTradingState(ts_event_ns=sent_ns, state=TradingState.HALTED.name,
                                reason=reason)]
    if cmd == "resume":
        return [SetTradingState(ts_event_ns=sent_ns, state=TradingState.ACTIVE.name,
                                reason=reason)]
    if cmd == "flatten":
        return [SetTradingState(ts_event_ns=sent_ns, state=TradingState.HALTED.name,
                                reason=reason),
                FlattenAll(ts_event_ns=sent_ns, reason=reason)]
    if cmd in ("reconcile", "adopt"):
        return [RequestReconcile(ts_event_ns=0, adopt=cmd == "adopt")]
    raise ValueError(f"not a command for orders: {cmd!r}")


def effect(
    cmd: str, status: dict, reconcile: dict, sent_ns: int, ack: dict | None = None,
    acked_ns: int = 0,
) -> dict | None:
    """The answer once the command's effect shows (None while it does not yet). A halt or resume
    shows only once orders acknowledged this very command (`acked_ns`, the stamp its trading-state
    record says it applied and journaled): a HALTED state from before it proves nothing — a loss
    limit's halt lifts the next morning, and a halt lost on the way (orders restarted between the
    send and the read) must not be answered done. A flatten likewise (`ack`), and only once
    positions has applied what it did (a resting LIMIT entry is no position)."""
    state = status.get("trading_state")
    fresh = int(reconcile.get("ts_ns") or 0) >= sent_ns
    acked = acked_ns >= sent_ns > 0
    if cmd == "halt" and state == TradingState.HALTED.name and acked:
        return {"ok": True}
    if cmd == "resume":
        if state == TradingState.ACTIVE.name and acked:
            return {"ok": True}
        if fresh and reconcile.get("outstanding"):
            return {"ok": False, "error": "refused: our view still differs from the broker's "
                                          "(ctl adopt takes the broker's view, ctl flatten closes)",
                    "differences": reconcile["outstanding"]}
        reason = str(status.get("trading_state_reason") or "")
        if acked and reason.startswith(RESUME_REFUSED):
            # orders refused it (a flatten not done): its reason names what is left and what to do
            return {"ok": False, "error": reason}
    ack = ack or {}
    acted = int(ack.get("sent_ns") or 0) >= sent_ns > 0
    applied = int((status.get("positions") or {}).get("last_orders_seq") or 0) >= int(
        ack.get("orders_seq") or 0
    )
    if cmd == "flatten" and state == TradingState.HALTED.name and acted and applied:
        open_rows = [
            p for p in (status.get("positions") or {}).get("positions") or [] if p.get("qty")
        ]
        if not open_rows:
            adopted = reconcile.get("adopted_positions") or {}
            if not adopted:
                return {"ok": True}
            # Adopted quantities were never the engine's (orders/reconciler.py): it cannot close
            # them.
            return {
                "ok": True,
                "not_closed": adopted,
                "note": "positions adopted from the broker are not "
                "the engine's to close: close them at the broker",
            }
    # A read the broker did not answer (throttled, 5xx) is retried by orders: wait for a verdict.
    if cmd == "reconcile" and fresh and not reconcile.get("pending") and not reconcile.get("error"):
        return {
            "ok": True,
            "clean": not reconcile.get("outstanding"),
            "differences": reconcile.get("outstanding", []),
        }
    if cmd == "adopt" and fresh and "adopted" in (reconcile.get("last") or {}):
        return {
            "ok": True,
            "adopted": reconcile["last"]["adopted"],
            "released": reconcile["last"].get("released", []),
            "baseline": reconcile.get("baseline"),
        }
    return None


class OperatorDesk:
    def __init__(self, run_dir: str, orders_endpoint: str, status, *, wait_s: dict | None = None,
                 clock_ns=time.time_ns, sleep=time.sleep, stamps: CommandStamps | None = None,
                 supervisor_halt=lambda: ""):
        self.run_dir, self.orders_endpoint, self.status = run_dir, orders_endpoint, status
        self.wait_s = {**WAIT_S, **(wait_s or {})}
        self.clock_ns, self.sleep = clock_ns, sleep
        # one stamp sequence with the supervisor's own halt (commands.py)
        self.stamps = stamps or CommandStamps(clock_ns)
        self.supervisor_halt = supervisor_halt       # () -> the reason of its halt, "" if none
        self.recent: collections.deque = collections.deque(maxlen=10)
        # made on the serving thread, the only one that uses them
        self._zmq: zmq.Context | None = None
        self._pusher: Pusher | None = None
        self.stopping = False                # set by the session before it stops the channel

    def handle(self, cmd: str, reason: str) -> dict:
        if cmd == "status":
            return {"ok": True, "status": self.snapshot()}
        reason = reason or f"operator: ctl {cmd}"
        with self.stamps.lock:      # the check and the stamp as one step (commands.py)
            held = self.supervisor_halt() if cmd == "resume" else ""
            sent_ns = self.stamps.next()
        if held:
            result = {"ok": False, "error": f"refused: {held}; it holds until this run ends"}
        elif self._push_all(commands_for(cmd, reason, sent_ns)):
            result = self._wait(cmd, sent_ns)
        else:
            result = {
                "ok": False,
                "error": "orders is not listening (down or restarting): nothing was sent",
            }
        snap = self.status()
        record = {
            "ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            "cmd": cmd,
            "reason": reason,
            **result,
            "trading_state": snap.get("trading_state"),
            "trading_state_reason": snap.get("trading_state_reason", ""),
        }
        self._journal(record)
        return record

    def snapshot(self) -> dict:
        """The run's status plus what operators need: the hint, the last commands, the last
        reconciliation."""
        return {**self.status(), "operator": {"hint": HINT, "commands": list(self.recent)},
                "reconcile": read_result(self.run_dir)}

    def _wait(self, cmd: str, sent_ns: int) -> dict:
        deadline = self.clock_ns() + int(self.wait_s[cmd] * 1e9)
        while True:
            answer = effect(
                cmd,
                self.status(),
                read_result(self.run_dir),
                sent_ns,
                read_flatten_ack(self.run_dir),
                acknowledged(self.run_dir),
            )
            if answer is not None:
                return answer
            if self.stopping:
                return {"ok": False, "error": "the run is stopping: the effect was not seen"}
            if self.clock_ns() >= deadline:
                broker = (
                    read_result(self.run_dir).get("error") if cmd in ("reconcile", "adopt") else ""
                )
                why = f" (the broker did not answer: {broker})" if broker else ""
                return {
                    "ok": False,
                    "error": f"sent, but no effect within {self.wait_s[cmd]:g}s{why}",
                }
            self.sleep(POLL_S)

    def _push_all(self, messages: list) -> bool:
        pusher = self._pusher
        if pusher is None:
            self._zmq = make_context()
            pusher = self._pusher = Pusher(self._zmq, self.orders_endpoint, "supervisor")
        for msg in messages:
            deadline = self.clock_ns() + int(CONNECT_S * 1e9)
            while not pusher.push(msg):
                if self.clock_ns() >= deadline:
                    return False
                self.sleep(POLL_S)
        return True

    def _journal(self, record: dict) -> None:
        self.recent.append(record)
        try:
            with open(os.path.join(self.run_dir, JOURNAL), "ab") as f:
                f.write(orjson.dumps(record) + b"\n")
        except OSError as e:     # a full disk: the operator still gets the answer, and is told
            record["journal_error"] = str(e)

    def close(self) -> None:
        """After the channel stopped (its thread ended): the socket it used to reach orders."""
        if self._pusher is not None:
            self._pusher.close()
            self._pusher = None
        if self._zmq is not None:
            self._zmq.term()
            self._zmq = None
