"""The supervisor's lifecycle events on the bus, and `python -m supervision.events`, a watcher.

The supervisor binds a PUB socket on the run's `PUB_SUPERVISOR` endpoint (in run.json like every
endpoint) and `RunLog` hands it each lifecycle event (spawn, ready, exit, hang, restart, give-up,
stopping: `SUPERVISOR_EVENT_KINDS`) right after journaling it, as a `SupervisorEvent` on
`supervisor_topic(kind)`. supervisor.jsonl stays the record; the bus is for watchers (a dashboard,
an alerting script). Publishing never blocks: with no subscriber zmq drops the message, a
subscriber that does not keep up loses messages (counted in `dropped`), never the supervisor's time.

    python -m supervision.events [--run-dir DIR] [--count N]

prints one JSON line per event until Ctrl-C (or N events). Without --run-dir it watches the one live
run of ours in the run registry, as `ctl` does.
"""

from __future__ import annotations

import argparse
import os
import sys

import msgspec
import orjson
import zmq

from common import rundir, topics
from common.bus import Publisher, Subscriber, make_context
from common.messages import SupervisorEvent

EXIT_OK = 0
EXIT_UNREACHABLE = 2      # no run found, or its run.json names no event endpoint
SOURCE = "supervisor"
_INT_FIELDS = ("pid", "restarts", "exit_code", "signal")


class EventsError(Exception):
    """The run to watch cannot be found; the message says what to pass instead."""


def to_message(doc: dict) -> SupervisorEvent:
    """A journaled event as a SupervisorEvent: its kind, stage and the fields the message carries
    (a field a kind does not journal keeps the message's default)."""
    fields = {k: doc[k] for k in _INT_FIELDS if doc.get(k) is not None}
    if isinstance(doc.get("cores"), list):
        fields["cores"] = [int(c) for c in doc["cores"]]
    return SupervisorEvent(
        ts_event_ns=int(doc["ts"] * 1e9),
        kind=doc["kind"],
        stage=doc["stage"],
        reason=str(doc.get("reason", "")),
        **fields,
    )


class BusEventPublisher:
    """What RunLog calls (`runlog.publisher`): each event doc to the PUB socket, never blocking."""

    def __init__(self, endpoint: str):
        # its own context, made here: after the supervisor pinned itself (zmq's I/O thread
        # inherits the affinity of the thread that makes the context)
        self.ctx = make_context()
        try:
            self.pub = Publisher(self.ctx, endpoint, SOURCE)
        except BaseException:
            self.ctx.term()
            raise

    def publish(self, doc: dict) -> None:
        self.pub.publish(topics.supervisor_topic(doc["kind"]), to_message(doc))

    @property
    def dropped(self) -> int:
        return self.pub.dropped

    def close(self) -> None:
        self.pub.close()          # with the bus's short LINGER: a stop never waits on a watcher
        self.ctx.term()


def endpoint_of_run_dir(run_dir: str) -> str:
    path = os.path.join(run_dir, rundir.RUN_INFO)
    try:
        with open(path, "rb") as f:
            return str(orjson.loads(f.read())["endpoints"][topics.PUB_SUPERVISOR])
    except FileNotFoundError:
        raise EventsError(f"{run_dir} holds no run.json: not a run directory, or the run never "
                          "started") from None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise EventsError(f"{path} names no event endpoint ({e!s}): a run of an older "
                          "version?") from None


def endpoint_of_live_run(runs: list[dict]) -> str:
    usable = [r for r in runs if isinstance(r.get("ipc_dir"), str)]
    if len(usable) != 1:
        found = ", ".join(str(r.get("run_id")) for r in usable) or "none"
        raise EventsError(f"{len(usable)} live runs of yours ({found}); pass --run-dir DIR")
    return "ipc://" + os.path.join(usable[0]["ipc_dir"], topics.PUB_SUPERVISOR)


def watch(endpoint: str, out, count: int = 0) -> int:
    """Print one JSON line per event to `out` until `count` events (0: until interrupted)."""
    ctx = zmq.Context()
    seen = 0
    try:
        with Subscriber(ctx, endpoint, [topics.EVT_SUPERVISOR]) as sub:
            while not count or seen < count:
                got = sub.recv(timeout_ms=-1)
                if got is None:
                    continue
                out.write(orjson.dumps(msgspec.to_builtins(got[1])).decode() + "\n")
                out.flush()
                seen += 1
    finally:
        ctx.term()
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervision.events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", metavar="DIR",
                        help="the run to watch (default: the one live run of ours)")
    parser.add_argument("--count", type=int, default=0, metavar="N",
                        help="stop after N events (default: run until Ctrl-C)")
    args = parser.parse_args(argv)
    try:
        if args.run_dir:
            endpoint = endpoint_of_run_dir(os.path.abspath(args.run_dir))
        else:
            from supervision.registry import RegistryError, live_runs

            try:
                endpoint = endpoint_of_live_run(live_runs())
            except RegistryError as e:
                raise EventsError(str(e)) from None
    except EventsError as e:
        print(f"events: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        watch(endpoint, sys.stdout, args.count)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
