"""Peer: the four-stage pipeline on `multiprocessing.Queue`, what a Python developer reaches for
first.

feed → signals → orders → positions, each its own process, joined by three queues; one message per
tick, a dict that Queue pickles and writes to its pipe from a feeder thread (stages.py has the
loops). The queues are bounded at 65,536 messages, the depth of OTrade's tick ring, so a fast feed
waits for a slow consumer instead of buffering the whole session in memory; `put` and `get` block,
nothing spins.
"""

from __future__ import annotations

from benchmarks.peers.processpipeline import (
    context,
    entry as pipeline_entry,
    measure_peer,
    run_pipeline,
)

QUEUE_MAXSIZE = 65_536
TIMEOUT_S = 900.0
NOTE = (
    "4 processes, multiprocessing.Queue(maxsize=65,536), one pickled dict per tick; "
    "first tick sent → positions done; exact percentiles; risk = max qty/notional, no journal, no "
    "brackets"
)


def connect(name: str, inbox, outbox):
    """(recv, attach, close) for a stage over its inbox and outbox queues (None at the ends)."""
    recv = inbox.get if inbox is not None else None

    def attach():
        return outbox.put if outbox is not None else None

    def close() -> None:
        if outbox is not None:
            outbox.close()
            outbox.join_thread()    # everything put is in the pipe before the process says done

    return recv, attach, close


def run(label: str, cols: dict, params: dict, paced: bool) -> dict:
    ctx = context()
    queues = [ctx.Queue(QUEUE_MAXSIZE) for _ in range(3)]     # → signals, → orders, → positions
    wiring = {"feed": (None, queues[0]), "signals": (queues[0], queues[1]),
              "orders": (queues[1], queues[2]), "positions": (queues[2], None)}
    jobs = {
        "feed": {"cols": cols, "paced": paced},
        "signals": {"params": params},
        "orders": {"params": params},
    }
    try:
        return run_pipeline(label, connect, wiring, jobs, TIMEOUT_S)
    finally:
        for q in queues:
            q.close()
            q.join_thread()


def measure(session) -> dict:
    return measure_peer("mpqueue", run, session)


def entry(detail: dict) -> dict:
    return pipeline_entry(detail, NOTE)
