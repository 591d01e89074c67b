"""Drive the real `python supervisor.py` in a subprocess, the way a user runs it, for chaos tests.

    with Pipeline(tmp_path, overrides) as p:
        p.wait_running()
        pid = p.stage("signals")["pid"]
        ...
    p.exit_code, p.leftovers()   # after the block

The run gets a run id of this test session (so the shared-memory leak fixture sees its segments), a
private registry directory, and a free port for /health, which is how the test watches it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request

import psutil

from benchmarks.harness import free_port
from tests.support import eventually, unique_run_id

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGES = ("positions", "orders", "signals", "feed")

# A small, fast universe: six instruments of the default, sim ticks at 2,000/s.
BASE = {
    "instruments": [
        {"symbol": "RELIANCE", "token": 738561, "tick_size": 0.1, "ref_price": 1480.0},
        {"symbol": "HDFCBANK", "token": 341249, "tick_size": 0.05, "ref_price": 985.0},
        {"symbol": "INFY", "token": 408065, "tick_size": 0.1, "ref_price": 1520.0},
        {"symbol": "SBIN", "token": 779521, "tick_size": 0.05, "ref_price": 950.0},
        {"symbol": "ITC", "token": 424961, "tick_size": 0.05, "ref_price": 405.0},
        {"symbol": "TATASTEEL", "token": 895745, "tick_size": 0.01, "ref_price": 170.0},
    ],
    "feed": {
        "source": "sim",
        "sim": {"profile": "stress", "tick_rate_hz": 2000, "session_date": "2026-01-05"},
    },
    "strategies": [{"name": "mac", "kind": "ma_crossover", "params": {"fast": 20, "slow": 80}}],
    # No end-of-run report unless a test asks for one: it is seconds of matplotlib per run (2.4 s
    # after a 1-s run), and the report has its own tests (tests/reports/, and the runs that ask).
    "run": {"report": False},
    "supervisor": {
        "dashboard": False,
        "stop_grace_ms": 1500,
        "heartbeat_timeout_ms": 1000,
        "restart": {"max_restarts": 20, "window_s": 60, "backoff_initial_ms": 20},
    },
}


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Pipeline:
    def __init__(self, tmp_path, overrides: dict | None = None, *, registry=None, args=()):
        self.tmp = tmp_path
        self.run_id = unique_run_id()
        self.port = free_port()
        self.run_dir = str(tmp_path / f"run-{self.run_id}")
        cfg = merge(BASE, overrides or {})
        cfg = merge(cfg, {"run": {"run_id": self.run_id}})
        self.config_path = tmp_path / f"config-{self.run_id}.json"
        self.config_path.write_text(json.dumps(cfg))
        self.registry = str(registry or tmp_path / "registry")
        self.args = list(args)
        self.proc = None
        self.exit_code = None

    def __enter__(self) -> "Pipeline":
        env = dict(os.environ, OTRADE_REGISTRY_DIR=self.registry, PYTHONUNBUFFERED="1")
        cmd = [
            sys.executable,
            os.path.join(ROOT, "supervisor.py"),
            "--config",
            str(self.config_path),
            "--run-dir",
            self.run_dir,
            "--http-port",
            str(self.port),
            "--no-dashboard",
            *self.args,
        ]
        self.log = open(self.tmp / f"supervisor-{self.run_id}.out", "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=str(self.tmp), env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.exit_code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_everything()
        self.exit_code = self.proc.returncode if self.exit_code is None else self.exit_code
        self.log.close()

    # -- watching ------------------------------------------------------------------------------
    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                return json.loads(r.read())
        except OSError:
            return None

    def stage(self, name: str) -> dict:
        h = self.health()
        return h["stages"][name] if h else {}

    def wait_running(self, timeout: float = 90.0) -> dict:
        def all_ready():
            h = self.health()
            return h if h and all(h["stages"][s]["state"] == "ready" for s in STAGES) else None

        return eventually(
            all_ready, timeout=timeout, message=f"all stages ready ({self.output()[-2000:]})"
        )

    def ticks_at_signals(self) -> int:
        return int(self.stage("signals").get("counters", {}).get("ticks", 0))

    def events(self) -> list[dict]:
        path = os.path.join(self.run_dir, "supervisor.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        with open(self.tmp / f"supervisor-{self.run_id}.out", "rb") as f:
            return f.read().decode(errors="replace")

    def wait_exit(self, timeout: float = 60.0) -> int:
        self.exit_code = self.proc.wait(timeout=timeout)
        return self.exit_code

    # -- cleanliness ---------------------------------------------------------------------------
    def descendants(self) -> list[int]:
        """Pids of every process under the supervisor now (forkserver, stages, resource tracker)."""
        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            return []

    def leftovers(self) -> dict:
        segs = sorted(n for n in os.listdir("/dev/shm") if n.startswith(f"otrade_{self.run_id}_"))
        ipc_dir = os.path.join(self.run_dir, "ipc")
        sockets = sorted(os.listdir(ipc_dir)) if os.path.isdir(ipc_dir) else []
        where = os.path.join(self.run_dir, "ipc.where")
        if os.path.exists(where):
            alt = open(where).read().strip()
            if os.path.isdir(alt):
                sockets += sorted(os.listdir(alt))
        return {"segments": segs, "sockets": sockets}

    def kill_everything(self) -> None:
        for pid in self.descendants() + [self.proc.pid]:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass
        self.proc.wait(timeout=10)


@contextlib.contextmanager
def hosted_venue(where, overrides: dict):
    """A local broker venue (localvenue.venue.local_venue: Kite or Upstox, by `broker.name`) run by
    the test itself, so the test can work its servers' failure switches and read their books.

    Yields (venue, overrides with the venue's addresses); a pipeline given those finds the address
    set and starts no venue of its own. The venue's journal goes to `where` (a directory).
    """
    import msgspec

    from config.loader import load_config
    from localvenue.venue import local_venue

    os.makedirs(where, exist_ok=True)
    path = os.path.join(where, "venue-config.json")
    with open(path, "w") as f:
        json.dump(merge(BASE, overrides), f)
    config = load_config(path).config
    venue = local_venue(config, str(where))
    assert venue is not None, "broker.<name>.local_server must be true, with no address set"
    try:
        pointed = venue.start()
        yield (
            venue,
            merge(overrides, _changed(msgspec.to_builtins(config), msgspec.to_builtins(pointed))),
        )
    finally:
        venue.stop()


@contextlib.contextmanager
def paper_on_a_live_feed(where):
    """The paper broker on a live-clock feed: the local Kite venue's ticker (hosted by the test), so
    the paper account trades a real IST day and a later start the same day resumes it (a sim or a
    replay is a market of its own and keeps no account day: supervision/accountday.py).

    Yields (venue, overrides): the Kite example's instruments and feed, broker `paper`.
    """
    with open(os.path.join(ROOT, "config", "examples", "kite-local.json")) as f:
        example = json.load(f)
    with hosted_venue(where, example) as (venue, pointed):
        yield venue, merge(pointed, {"broker": {"name": "paper"}})


def _changed(before: dict, after: dict) -> dict:
    """The leaves of `after` that differ from `before`, shaped like the config JSON."""
    out = {}
    for k, v in after.items():
        if isinstance(v, dict) and isinstance(before.get(k), dict):
            sub = _changed(before[k], v)
            if sub:
                out[k] = sub
        elif before.get(k) != v:
            out[k] = v
    return out


def alive(pids) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            pass
    return out
