"""One run of the pipeline from `python supervisor.py`: set up, supervise, report, tear down.

Ctrl-C, SIGTERM and SIGHUP ask for a clean stop (stages stop in reverse order, drain, write final
state); a second Ctrl-C is ignored rather than abandoning the drain half-way. Whatever happens,
every segment and socket file of the run is removed before the process exits.
"""

from __future__ import annotations

import os
import signal
import sys

import zmq

from common import rundir, topics
from common.bus import Pusher, make_context
from common.errors import BusError
from common.log import get_logger
from supervision.core import EXIT_LEFT_AT_BROKER, EXIT_LOG_FAILED, EXIT_OK, Limits
from supervision.dashboard import make_view
from supervision.events import BusEventPublisher
from supervision.health import HealthServer
from supervision.launcher import Launcher
from supervision.commands import CommandStamps, StandingHalt
from supervision.control import ControlServer
from supervision.operator import HINT, OperatorDesk
from supervision.status import snapshot
from supervision.summary import left_lines, stop_report, write_summary


class Session:
    def __init__(self, loaded, plan, on_finished=None):
        self.loaded = loaded
        self.plan = plan
        self.on_finished = on_finished   # called with the run dir once summary.json is written
        self.log = get_logger("supervisor")
        self.core = None
        self.early_stop = ""           # a stop signal that came before the core existed

    def _limits(self) -> Limits:
        sup = self.loaded.config.supervisor
        return Limits(
            heartbeat_timeout_s=sup.heartbeat_timeout_ms / 1000.0,
            ready_timeout_s=sup.ready_timeout_s,
            stop_grace_s=sup.stop_grace_ms / 1000.0,
            stay_up_degraded=sup.stay_up_degraded,
            duration_s=sup.duration_s,
        )

    def _on_signal(self, signum, frame) -> None:
        reason = f"signal {signal.Signals(signum).name}"
        if self.core is not None:
            self.core.request_stop(reason)
        else:
            self.early_stop = self.early_stop or reason   # kept: handed to the core once it exists

    def run(self) -> int:
        launcher = Launcher(self.loaded, self.plan)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        # a closed terminal / dropped ssh: the same clean stop
        signal.signal(signal.SIGHUP, self._on_signal)
        health = view = control = events = halt_socket = None
        try:
            launcher.setup()
            events = self._start_events(launcher)   # after setup pinned the supervisor
            self._announce(launcher)
            orders_cmd = launcher.endpoints.endpoint(topics.CMD_ORDERS)
            # the operator's commands and the supervisor's own halt: one stamp sequence, one
            # command socket of orders (commands.py)
            stamps = CommandStamps()
            halt_socket = _CommandSocket(orders_cmd)
            halt = StandingHalt(launcher.run_dir, halt_socket.push, stamps)
            desk = OperatorDesk(
                launcher.run_dir,
                orders_cmd,
                lambda: snapshot(
                    launcher.run_id, launcher.run_dir, launcher.table, self.core.procs
                ),
                stamps=stamps,
                supervisor_halt=lambda: halt.reason,
            )
            # the stages' status + the operator's commands and the last reconcile
            status = desk.snapshot
            view = make_view(not self.loaded.config.supervisor.dashboard)
            self.core = launcher.make_core(self._limits(), on_status=lambda: _show(view, status))
            self.core.halt = halt
            if self.early_stop:        # Ctrl-C / SIGTERM / SIGHUP during set-up: stop, do not trade
                self.core.request_stop(self.early_stop)
            port = self.loaded.config.supervisor.http_port
            if port:
                health = self._start_health(port, status, launcher)
            view.start()
            control = self._start_control(launcher, desk)
            outcome = self.core.run()
            final = status()
        finally:
            if view is not None:
                view.stop()
            if health is not None:
                health.stop()
            if control is not None:
                desk.stopping = True       # a command waiting for its effect answers now
                if control.stop():
                    desk.close()
            if events is not None:
                launcher.runlog.publisher = None
                events.close()
            if halt_socket is not None:
                halt_socket.close()
            launcher.teardown()
        self._judge_stop(launcher.run_dir, outcome)
        self._write_results(launcher.run_dir, final, outcome)
        self.log.info(
            "run ended",
            run_dir=launcher.run_dir,
            reason=outcome.reason,
            exit_code=outcome.exit_code,
        )
        if outcome.exit_code == EXIT_LOG_FAILED:
            lost = launcher.runlog.lost
            print(
                f"supervisor: {outcome.reason} ({lost} events not recorded); trading was halted "
                "and every "
                f"stage stopped",
                file=sys.stderr,
            )
        print(
            f"run ended: {outcome.reason} (exit {outcome.exit_code}); "
            f"results in {launcher.run_dir}",
            file=sys.stderr,
        )
        return outcome.exit_code

    def _judge_stop(self, run_dir: str, outcome) -> None:
        """Say loudly what the stop left at the broker; anything left at a (live or local) broker
        ends the run with EXIT_LEFT_AT_BROKER unless it already failed otherwise (issue 11.3)."""
        stop = stop_report(run_dir)
        lines = left_lines(stop)
        if not any(lines) or (
            stop.get("left_at_broker") is None and self.loaded.config.broker.name == "paper"
        ):
            return
        left = stop.get("left_at_broker")
        where = "paper account" if stop.get("paper") else "broker"
        head = (
            f"supervisor: LEFT AT THE {where.upper()} at stop (run.on_stop={stop.get('policy')}):"
            if left
            else "supervisor: what is left at the broker is UNKNOWN:"
        )
        _say("\n".join([head, *lines]))
        if left and not stop.get("paper") and outcome.exit_code == EXIT_OK:
            outcome.exit_code = EXIT_LEFT_AT_BROKER
            outcome.reason = (f"{outcome.reason}; orders or positions left at the broker "
                              "(summary.json left_at_broker)")

    def _write_results(self, run_dir: str, final: dict, outcome) -> None:
        """summary.json and the report; a full disk here is reported, and decides the exit code."""
        try:
            write_summary(run_dir, final, outcome)
            if self.on_finished is not None:
                self.on_finished(run_dir)
        except OSError as e:
            print(f"supervisor: cannot write the run's results in {run_dir}: {e}", file=sys.stderr)
            if outcome.exit_code == 0:
                outcome.exit_code = EXIT_LOG_FAILED
                outcome.reason = f"cannot write the run's results: {e}"

    def _announce(self, launcher) -> None:
        with open(os.path.join(launcher.run_dir, rundir.CONFIG_EFFECTIVE), "wb") as f:
            from config.loader import effective_json

            f.write(effective_json(self.loaded.config))
        self.log.info("run starting", run_id=launcher.run_id, run_dir=launcher.run_dir,
                      stages={s.name: list(s.cores) for s in self.plan.stages})
        print(f"OTrade run {launcher.run_id}: {launcher.run_dir}", file=sys.stderr)

    def _start_control(self, launcher, desk):
        """`python supervisor.py ctl ...` (control.py); a socket that cannot be made is said, not
        fatal."""
        path = launcher.endpoints.path(topics.CTL_SUPERVISOR)
        try:
            server = ControlServer(path, desk.handle, log=self.log).start()
        except OSError as e:
            self.log.warning("operator controls not started", path=path, error=str(e))
            launcher.runlog.event("ctl_unavailable", "", error=str(e))
            return None
        launcher.runlog.event("ctl", "", socket=path)
        print(HINT, file=sys.stderr)
        return server

    def _start_events(self, launcher):
        """The lifecycle events' PUB socket (events.py); one that cannot be made is said, not
        fatal: the journal still records every event."""
        endpoint = launcher.endpoints.endpoint(topics.PUB_SUPERVISOR)
        try:
            events = BusEventPublisher(endpoint)
        except (BusError, zmq.ZMQError, OSError) as e:
            self.log.warning("lifecycle events not published", endpoint=endpoint, error=str(e))
            launcher.runlog.event("events_unavailable", "", endpoint=endpoint, error=str(e))
            return None
        launcher.runlog.event("events", "", endpoint=endpoint)
        launcher.runlog.publisher = events
        return events

    def _start_health(self, port: int, status, launcher):
        try:
            server = HealthServer(port, status).start()
        except OSError as e:  # a busy port must not stop trading: say so and run without it
            self.log.warning("health endpoint not started", port=port, error=str(e))
            launcher.runlog.event("health_unavailable", "", port=port, error=str(e))
            return None
        launcher.runlog.event("health", "", url=f"http://127.0.0.1:{server.port}/health")
        print(f"health: http://127.0.0.1:{server.port}/health  metrics: http://127.0.0.1:{server.port}/metrics",
              file=sys.stderr)
        return server


class _CommandSocket:
    """The supervisor loop's own PUSH socket to orders' command endpoint (the operator desk has
    its own, on the ctl thread: a zmq socket belongs to one thread)."""

    def __init__(self, endpoint: str):
        self.zmq = make_context()
        self.pusher = Pusher(self.zmq, endpoint, "supervisor")

    def push(self, msg) -> bool:
        return self.pusher.push(msg)

    def close(self) -> None:
        self.pusher.close()
        self.zmq.term()


def _say(text: str) -> None:
    """stderr, which may be a terminal that is gone (the SIGHUP of a closed one): never fail the
    stop."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


def _show(view, status) -> None:
    """A status refresh; a terminal that went away (EIO after SIGHUP) must not break the stop."""
    try:
        view.update(status())
    except OSError:
        pass
