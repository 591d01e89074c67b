"""Peer: the same four-stage pipeline on pyzmq alone, what a developer writes who knows ZeroMQ.

Each stage binds a PULL socket for its input and connects a PUSH socket to the next stage, over
`ipc://` endpoints in a private temporary directory (removed afterwards); one message per tick, the
tick dict as JSON (orjson). Default high-water marks (1,000 messages a side), blocking send and
recv: the same loops as the multiprocessing.Queue peer (stages.py), only the transport differs.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from benchmarks.peers.processpipeline import entry as pipeline_entry, measure_peer, run_pipeline

LINGER_MS = 5_000       # close waits this long for queued messages to leave, never forever
TIMEOUT_S = 900.0
NOTE = (
    "4 processes, pyzmq PUSH/PULL over ipc, one orjson dict per tick; "
    "first tick sent → positions done; exact percentiles; risk = max qty/notional, no journal, no "
    "brackets"
)


def connect(name: str, inbox: str | None, outbox: str | None):
    """(recv, attach, close) for a stage: PULL bound at `inbox` now, PUSH connected to `outbox` by
    `attach()` (processpipeline.stage_entry calls it once every stage has bound)."""
    import orjson
    import zmq

    ctx = zmq.Context()
    sockets = []
    recv = None
    if inbox is not None:
        pull = ctx.socket(zmq.PULL)
        sockets.append(pull)
        pull.bind(inbox)
        recv = lambda: orjson.loads(pull.recv())     # noqa: E731 - the hot path, one call deep

    def attach():
        if outbox is None:
            return None
        push = ctx.socket(zmq.PUSH)
        sockets.append(push)
        push.connect(outbox)
        return lambda msg: push.send(orjson.dumps(msg))

    def close() -> None:
        for sock in sockets:
            sock.close(linger=LINGER_MS)
        ctx.term()

    return recv, attach, close


def run(label: str, cols: dict, params: dict, paced: bool) -> dict:
    ipc_dir = tempfile.mkdtemp(prefix="otrade-peer-zmq-")      # 0700: only this user's processes
    try:
        ends = {
            name: f"ipc://{os.path.join(ipc_dir, name)}"
            for name in ("signals", "orders", "positions")
        }
        wiring = {
            "feed": (None, ends["signals"]),
            "signals": (ends["signals"], ends["orders"]),
            "orders": (ends["orders"], ends["positions"]),
            "positions": (ends["positions"], None),
        }
        jobs = {"feed": {"cols": cols, "paced": paced}, "signals": {"params": params},
                "orders": {"params": params}}
        return run_pipeline(label, connect, wiring, jobs, TIMEOUT_S)
    finally:
        shutil.rmtree(ipc_dir, ignore_errors=True)


def measure(session) -> dict:
    return measure_peer("pyzmq", run, session)


def entry(detail: dict) -> dict:
    return pipeline_entry(detail, NOTE)
