"""A stop signal that arrives while the supervisor is still setting up (issue 11.3).

README "Stopping, and one instance": Ctrl-C, SIGTERM and SIGHUP (a closed terminal or dropped ssh)
all stop the run. Session.run installs its handlers *before* launcher.setup() (shared memory, the
dead-run sweep, a local venue, ...), replacing the default "terminate", but Session._on_signal does
nothing while `self.core` is None: a signal in that window is swallowed and the run goes on to start
every stage and trade, until --duration or another signal. Driven here with a fake launcher and
core; no stage runs.
"""

import os
import signal
from types import SimpleNamespace

import pytest

from supervision import session as session_mod
from supervision.core import Outcome


class FakeCore:
    def __init__(self):
        self.procs, self.stop_reasons = [], []

    def request_stop(self, reason):
        self.stop_reasons.append(reason)

    def run(self):
        # A real core stops at once when a stop was requested before it ran (its _stop_reason is
        # set).
        return Outcome(
            reason=self.stop_reasons[0] if self.stop_reasons else "ran the whole session"
        )


class FakeLauncher:
    sig = signal.SIGHUP

    def __init__(self, loaded, plan):
        self.run_dir, self.run_id, self.table = loaded.run_dir, "r", None
        self.endpoints = SimpleNamespace(endpoint=lambda topic: "ipc:///nonexistent/orders.cmd")
        self.runlog = SimpleNamespace(lost=0, event=lambda *a, **k: None)
        self.core = FakeCore()

    def setup(self):
        os.kill(os.getpid(), self.sig)     # the terminal closes while shared memory is being made

    def make_core(self, limits, on_status):
        return self.core

    def teardown(self):
        pass


@pytest.fixture
def handlers_restored():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_stop_signal_when_it_arrives_during_setup_then_the_run_stops(
    sig, tmp_path, monkeypatch, handlers_restored
):
    sup = SimpleNamespace(heartbeat_timeout_ms=1000, ready_timeout_s=5.0, stop_grace_ms=2000,
                          stay_up_degraded=False, duration_s=None, dashboard=False, http_port=0)
    loaded = SimpleNamespace(config=SimpleNamespace(supervisor=sup), run_dir=str(tmp_path))
    monkeypatch.setattr(FakeLauncher, "sig", sig)
    monkeypatch.setattr(session_mod, "Launcher", FakeLauncher)
    monkeypatch.setattr(session_mod, "snapshot", lambda *a, **k: {})
    monkeypatch.setattr(session_mod.Session, "_announce", lambda self, launcher: None)
    monkeypatch.setattr(session_mod.Session, "_start_control", lambda self, launcher, desk: None)
    monkeypatch.setattr(session_mod.Session, "_judge_stop", lambda self, run_dir, outcome: None)
    monkeypatch.setattr(
        session_mod.Session, "_write_results", lambda self, run_dir, final, outcome: None
    )
    monkeypatch.setattr(session_mod.Session, "_limits", lambda self: None)
    s = session_mod.Session(loaded, plan=None)
    s.run()
    assert s.core.stop_reasons == [f"signal {sig.name}"], s.core.stop_reasons
