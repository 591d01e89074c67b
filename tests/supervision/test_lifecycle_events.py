"""The supervisor's lifecycle events reach the bus (issue 13): RunLog hands each lifecycle event it
journals to its publisher, in order, and a publisher that fails never costs the journal a line."""

import io
import json
import os
import signal
import threading

import orjson
import pytest
import zmq

from common import topics
from common.bus import Subscriber
from common.messages import SUPERVISOR_EVENT_KINDS, SupervisorEvent
from supervision.events import (BusEventPublisher, EventsError, endpoint_of_live_run,
                                endpoint_of_run_dir, watch)
from supervision.launcher import RunPlan
from supervision.runlog import RunLog
from tests.support import eventually


class Recording:
    def __init__(self):
        self.docs = []

    def publish(self, doc):
        self.docs.append(doc)


class Broken:
    def publish(self, doc):
        raise zmq.ZMQError(zmq.ENOTSOCK)


def _journal(path) -> list[dict]:
    return [orjson.loads(line) for line in open(path, "rb")]


def _a_run(log):
    log.event("spawn", "feed", pid=11, cores=[1], restarts=0, reason="start")
    log.event("ready", "feed", pid=11, cores=[1], startup_ms=3.5, restarts=0)
    log.event("running", "", stages=["feed"])          # journal only: not a lifecycle kind
    log.event("exit", "feed", pid=11, cores=[1], exit_code=-9, signal=9, reason="signal")
    log.event("restart", "feed", cores=[1], delay_ms=20.0, restarts=1, reason="backoff")


def test_runlog_when_a_publisher_is_attached_then_it_gets_each_lifecycle_event_in_journal_order(
        tmp_path):
    log = RunLog(str(tmp_path / "supervisor.jsonl"))
    log.publisher = rec = Recording()
    _a_run(log)
    log.close()
    journaled = _journal(tmp_path / "supervisor.jsonl")
    assert rec.docs == [d for d in journaled if d["kind"] in SUPERVISOR_EVENT_KINDS]
    assert [d["kind"] for d in rec.docs] == ["spawn", "ready", "exit", "restart"]


def test_runlog_when_the_publisher_raises_then_every_line_is_still_journaled_and_counted(tmp_path):
    log = RunLog(str(tmp_path / "supervisor.jsonl"))
    log.publisher = Broken()
    _a_run(log)
    log.close()
    assert [d["kind"] for d in _journal(tmp_path / "supervisor.jsonl")] == [
        "spawn", "ready", "running", "exit", "restart"]
    assert log.unpublished == 4 and log.failure is None and log.lost == 0


def test_bus_publisher_when_runlog_journals_an_exit_then_a_subscriber_gets_a_supervisor_event(
        tmp_path):
    endpoint = f"ipc://{tmp_path}/supervisor.pub"
    pub = BusEventPublisher(endpoint)
    ctx = zmq.Context()
    log = RunLog(str(tmp_path / "supervisor.jsonl"))
    log.publisher = pub
    try:
        with Subscriber(ctx, endpoint, [topics.supervisor_topic("exit")]) as sub:
            def got_one():   # PUB drops until the subscription has arrived: resend until it has
                log.event("exit", "signals", pid=42, cores=[2], exit_code=None, signal=9,
                          reason="signal")
                return sub.recv(timeout_ms=20)

            topic, msg = eventually(got_one, timeout=10, message="an exit event on the bus")
    finally:
        log.close()
        pub.close()
        ctx.term()
    assert topic == topics.supervisor_topic("exit") and isinstance(msg, SupervisorEvent)
    assert (msg.kind, msg.stage, msg.pid, msg.cores, msg.signal, msg.exit_code, msg.reason) == (
        "exit", "signals", 42, [2], 9, None, "signal")
    assert msg.source == "supervisor" and msg.seq >= 1


def test_watch_when_events_arrive_then_it_prints_one_json_line_per_event(tmp_path):
    endpoint = f"ipc://{tmp_path}/supervisor.pub"
    pub = BusEventPublisher(endpoint)
    out = io.StringIO()
    watcher = threading.Thread(target=watch, args=(endpoint, out, 1), daemon=True)
    watcher.start()
    try:
        def printed():
            pub.publish({"ts": 1.5, "kind": "give_up", "stage": "orders", "reason": "limit"})
            watcher.join(0.02)
            return not watcher.is_alive()

        eventually(printed, timeout=10, message="the watcher printed its one event")
    finally:
        pub.close()
    line = json.loads(out.getvalue().splitlines()[0])
    assert (line["kind"], line["stage"], line["reason"], line["ts_event_ns"]) == (
        "give_up", "orders", "limit", 1_500_000_000)


def test_run_plan_when_built_then_the_event_endpoint_is_in_run_json_and_swept():
    assert topics.PUB_SUPERVISOR in RunPlan([], None, 8, False, []).endpoint_names


def test_endpoint_when_the_run_dir_has_no_run_json_then_a_named_error(tmp_path):
    with pytest.raises(EventsError, match="no run.json"):
        endpoint_of_run_dir(str(tmp_path))
    (tmp_path / "run.json").write_text(json.dumps({"endpoints": {}}))
    with pytest.raises(EventsError, match="names no event endpoint"):
        endpoint_of_run_dir(str(tmp_path))


def test_endpoint_when_several_runs_are_live_then_it_asks_for_a_run_dir():
    assert endpoint_of_live_run([{"ipc_dir": "/x"}]) == "ipc:///x/supervisor.pub"
    with pytest.raises(EventsError, match="--run-dir"):
        endpoint_of_live_run([{"ipc_dir": "/x"}, {"ipc_dir": "/y"}])


def test_session_when_the_event_socket_cannot_be_bound_then_the_run_log_says_so(tmp_path):
    from types import SimpleNamespace

    from supervision.session import Session

    log = RunLog(str(tmp_path / "supervisor.jsonl"))
    missing = f"ipc://{tmp_path}/no/such/dir/supervisor.pub"
    launcher = SimpleNamespace(runlog=log, endpoints=SimpleNamespace(endpoint=lambda n: missing))
    assert Session(None, None)._start_events(launcher) is None
    log.close()
    said = _journal(tmp_path / "supervisor.jsonl")
    assert [d["kind"] for d in said] == ["events_unavailable"] and said[0]["endpoint"] == missing
    assert log.publisher is None


@pytest.mark.slow
def test_supervisor_when_a_stage_is_killed_then_watchers_see_its_exit_and_restart(tmp_path):
    from tests.chaos.harness import STAGES, Pipeline

    events: list[SupervisorEvent] = []
    ctx = zmq.Context()
    p = Pipeline(tmp_path)
    try:
        with p:
            run_json = os.path.join(p.run_dir, "run.json")
            eventually(lambda: os.path.exists(run_json) or p.proc.poll() is not None, timeout=60,
                       message="run.json")
            assert p.proc.poll() is None, p.output()[-3000:]
            with Subscriber(ctx, endpoint_of_run_dir(p.run_dir), [topics.EVT_SUPERVISOR]) as sub:
                def seen(kind, stage):
                    got = sub.recv(timeout_ms=50)
                    if got is not None:
                        events.append(got[1])
                    return any(e.kind == kind and e.stage == stage for e in events)

                for name in STAGES:
                    eventually(lambda: seen("ready", name), timeout=90, message=f"{name} ready")
                victim = next(e.pid for e in events if e.kind == "ready" and e.stage == "signals")
                os.kill(victim, signal.SIGKILL)
                eventually(lambda: seen("restart", "signals"), timeout=30, message="restart")
    finally:
        ctx.term()
    kinds = [(e.kind, e.stage) for e in events]
    for name in STAGES:
        assert kinds.index(("spawn", name)) < kinds.index(("ready", name))
    exits = [e for e in events if e.kind == "exit" and e.stage == "signals"]
    assert exits and exits[0].pid == victim and exits[0].signal == signal.SIGKILL
    assert kinds.index(("exit", "signals")) < kinds.index(("restart", "signals"))
    assert p.leftovers() == {"segments": [], "sockets": []}
