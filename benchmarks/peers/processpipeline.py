"""Start a peer's four stage processes, let them go together, collect what each measured, reap them.

The stages are `multiprocessing` processes (spawn: a fresh interpreter each, nothing inherited from
the benchmark process, which has pyarrow's threads and maybe NautilusTrader's). Each stage sets up
its inbox and reports `ready` on a control queue; once all four are ready they connect their
outboxes and the feed starts, so the clock starts at the first tick sent, not at interpreter start.
Each stage puts its result (or its traceback) on the control queue when the end of the session has
passed through it, and keeps its transport open until all four have (`done`). The control queue is
off the hot path. Every process is joined before this returns; one still alive after its grace
period is terminated. A stage also ends if the benchmark process dies, instead of waiting in recv
forever.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import queue
import threading
import time
import traceback

from benchmarks.peers.result import make_entry
from benchmarks.peers.stages import run_stage
from benchmarks.stats import summarize

# consumers first, as OTrade's supervisor
START_ORDER = ("positions", "orders", "signals", "feed")
# how often the parent looks for a stage that died without a word (it blocks)
POLL_S = 0.5
JOIN_GRACE_S = 10.0
DONE_WAIT_S = 60.0       # a stage whose parent never says done still closes and exits


def context():
    return multiprocessing.get_context("spawn")


def stage_entry(name: str, control, go, done, connect, connect_args: tuple, job: dict) -> None:
    """A stage process: `connect(name, *connect_args)` → (recv, attach, close), then the stage's
    loop.

    The inbox is open (bound) when `connect` returns; `attach()` opens the outbox and returns
    `send`, after `go`, when all four inboxes exist. A stage closes its transport only when the
    parent says every stage is done: a ZeroMQ sender that closes and exits while its last messages
    are still in the socket's kernel buffer loses them (linger only covers ZeroMQ's own queue), and
    tiny sessions then never reached the end.
    """
    _exit_with_parent()
    close = None
    try:
        recv, attach, close = connect(name, *connect_args)
        control.put(("ready", name, None))
        go.wait()
        control.put(("result", name, run_stage(name, recv, attach(), job)))
        done.wait(DONE_WAIT_S)
    except Exception:   # noqa: BLE001 - the parent must see why, whatever it was
        control.put(("error", name, traceback.format_exc()))
    finally:
        if close is not None:
            close()


def _exit_with_parent() -> None:
    """A stage blocked in recv must not outlive a benchmark that was killed: a thread waits on the
    parent's sentinel (readable when the parent is gone) and ends the process."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_pipeline(label: str, connect, args_by_stage: dict, jobs: dict, timeout_s: float) -> dict:
    """Run one session through the four stages; returns {stage: result}. Raises if a stage fails."""
    ctx = context()
    control, go, done = ctx.Queue(), ctx.Event(), ctx.Event()
    procs = {
        name: ctx.Process(
            target=stage_entry,
            name=f"{label}-{name}",
            daemon=True,
            args=(name, control, go, done, connect, args_by_stage[name], jobs.get(name, {})),
        )
        for name in START_ORDER
    }
    finished = False
    try:
        for name in START_ORDER:
            procs[name].start()
        results = _collect(control, go, procs, time.monotonic() + timeout_s)
        finished = True
        return results
    finally:
        done.set()
        _reap(procs, JOIN_GRACE_S if finished else 0.5)    # after a failure the others wait in recv
        control.close()
        control.join_thread()


def _collect(control, go, procs: dict, deadline: float) -> dict:
    ready: set[str] = set()
    results: dict[str, dict] = {}
    while len(results) < len(procs):
        try:
            kind, name, payload = control.get(timeout=POLL_S)
        except queue.Empty:
            dead = [n for n, p in procs.items() if n not in results and p.exitcode is not None]
            if dead:
                raise RuntimeError(f"stage {dead} exited without a result") from None
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"pipeline did not finish: results from {sorted(results)}"
                ) from None
            continue
        if kind == "error":
            raise RuntimeError(f"stage {name} failed:\n{payload}")
        if kind == "ready":
            ready.add(name)
            if len(ready) == len(procs):
                go.set()
        else:
            results[name] = payload
    return results


def _reap(procs: dict, grace_s: float) -> None:
    for proc in procs.values():
        if proc.pid is None:
            continue
        proc.join(grace_s)
        if proc.exitcode is None:
            proc.terminate()
            proc.join(JOIN_GRACE_S)
        proc.close()


def throughput(results: dict) -> float | None:
    """Ticks per second from the first tick sent (feed) to the end of the session at positions."""
    elapsed_ns = results["positions"]["done_ns"] - results["feed"]["first_sent_ns"]
    return results["positions"]["ticks"] / (elapsed_ns / 1e9) if elapsed_ns > 0 else None


def summary(results: dict) -> dict:
    """What one run did and how fast: ticks through each stage, intents, orders, fills, tick →
    order."""
    return {
        "ticks_per_s": throughput(results),
        "ticks": {
            name: results[name].get("ticks", results[name].get("sent")) for name in START_ORDER
        },
        "intents": results["signals"]["intents"],
        "orders": results["orders"]["orders"],
        "denied": results["orders"]["denied"],
        "fills": results["positions"]["fills"],
        "tick_to_order": summarize(results["orders"]["tick_to_order_ns"]),
    }


def measure_peer(label: str, run, session) -> dict:
    """The session at full speed (throughput) and its live prefix at 2,000 ticks/s (tick →
    order)."""
    replay = summary(run(label, session.ticks.columns(), session.params, paced=False))
    live = summary(run(label, session.live.columns(), session.params, paced=True))
    return {"replay": replay, "live": live}


def entry(detail: dict, note: str) -> dict:
    replay, live = detail["replay"], detail["live"]
    return make_entry(
        replay["ticks_per_s"], live["tick_to_order"], replay["intents"], replay["orders"], note
    )
