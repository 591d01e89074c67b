"""Run the real `python supervisor.py` in a subprocess for a benchmark, the way a user runs it.

    with scratch_dir() as tmp, SupervisedRun(tmp, config, run_id="bench-1") as run:
        run.wait_all_ready()
        ...run.stage("signals")["pid"], run.counter("signals", "ticks")...
    run.events(), run.read_json("signals.summary.json"), run.leaked   # after the block

The run gets a private registry directory and a free loopback port for /health, which is how the
benchmark watches it; everything it writes lives in the scratch directory, which is removed at the
end. Leaving the block stops the supervisor with Ctrl-C (SIGINT) like a user would, kills whatever
is left if it does not stop, and removes (and reports in `leaked`) any /dev/shm segment of the run.
Benchmarks do not import the test suite, so this is a small runner of their own.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import orjson
import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ("positions", "orders", "signals", "feed")    # the supervisor's start order
SHM_DIR = "/dev/shm"
_run_numbers = itertools.count(1)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.001):
    """Poll `predicate` until it returns something truthy and return that; TimeoutError after
    `timeout`.

    The interval starts small and doubles up to 20 ms: a fast condition is seen fast, a slow one
    does not take CPU from the pipeline being measured (two cores here, all of them busy).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not true within {timeout} s: {what} (last value {value!r})")
        time.sleep(interval)
        interval = min(interval * 2, 0.02)


def new_run_id(prefix: str = "bench") -> str:
    """A run id unique to this process: it names the run's /dev/shm segments (otrade_<run id>_*)."""
    return f"{prefix}-{os.getpid()}-{next(_run_numbers)}"


def merge(base: dict, over: dict) -> dict:
    """`over` laid on `base`, recursively for nested sections (lists are replaced, as in the
    config)."""
    out = dict(base)
    for key, value in over.items():
        both_dicts = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if both_dicts else value
    return out


# The benchmarks' figures were measured on the sim's high-rate "stress" stream and the EMA 10/30 the
# default had then; the default is now a real-paced market and a slower strategy (issue 16.1).
# Pinned here so the figures stay comparable.
BENCH_BASELINE = {
    "feed": {"sim": {"profile": "stress"}},
    "strategies": [{"name": "mac", "kind": "ma_crossover", "params": {"fast": 10, "slow": 30}}],
}


def default_config() -> dict:
    """config/default.json as a dict, with BENCH_BASELINE on top: a config file replaces the
    embedded default, so start from it."""
    with open(os.path.join(ROOT, "config", "default.json"), "rb") as f:
        return merge(orjson.loads(f.read()), BENCH_BASELINE)


@contextlib.contextmanager
def scratch_dir():
    """A temporary directory for one benchmark's run dirs, configs and replay files, always
    removed."""
    path = tempfile.mkdtemp(prefix="otrade-bench-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    """A free port for the run's /health, below the kernel's ephemeral range: one the kernel handed
    out (port 0) is free again once released, and the run's own local venue servers, binding port
    0 a moment later, were seen to get it first (CI: the health endpoint never came up)."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12_000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class SupervisedRun:
    """One supervisor process with its config, run directory and /health port (a context
    manager)."""

    def __init__(
        self, workdir: str, config: dict, *, run_id: str, args=(), stop_timeout_s: float = 60.0
    ):
        self.workdir = workdir
        self.run_id = run_id
        self.run_dir = os.path.join(workdir, f"run-{run_id}")
        self.port = free_port()
        self.config_path = os.path.join(workdir, f"config-{run_id}.json")
        with open(self.config_path, "wb") as f:
            # No end-of-run report: a benchmark measures the pipeline, and the report's charts
            # would add seconds of matplotlib to every run it makes.
            f.write(orjson.dumps(merge(config, {"run": {"run_id": run_id, "report": False}})))
        self.output_path = os.path.join(workdir, f"supervisor-{run_id}.out")
        self.args = list(args)
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self.leaked: dict = {}

    def __enter__(self) -> "SupervisedRun":
        # Each run its own paper account home: the default (~/.local/state) is the user's, and a run
        # there resumes the previous benchmark's trading day (HALTED by its stop, its market clock,
        # its orders).
        env = dict(
            os.environ,
            OTRADE_REGISTRY_DIR=os.path.join(self.workdir, "registry"),
            PYTHONUNBUFFERED="1",
            OTRADE_ACCOUNT_HOME=os.path.join(self.workdir, f"accounts-{self.run_id}"),
        )
        cmd = [
            sys.executable,
            os.path.join(ROOT, "supervisor.py"),
            "--config",
            self.config_path,
            "--run-dir",
            self.run_dir,
            "--http-port",
            str(self.port),
            "--no-dashboard",
            *self.args,
        ]
        with open(self.output_path, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def _running(self) -> subprocess.Popen[bytes]:
        """The supervisor's process: there is one only inside `with SupervisedRun(...)`."""
        if self.proc is None:
            raise RuntimeError("the supervisor is not started: use `with SupervisedRun(...)`")
        return self.proc

    def __exit__(self, *exc) -> None:
        descendants = self._descendants()
        if self._running.poll() is None:
            self._running.send_signal(signal.SIGINT)
            try:
                self._running.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._kill_tree()
        self.exit_code = self._running.returncode
        self.leaked = self._remove_leftovers(descendants)

    # -- watching ------------------------------------------------------------------------------
    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                return orjson.loads(r.read())
        except (OSError, orjson.JSONDecodeError):
            return None

    def stage(self, name: str) -> dict:
        doc = self.health()
        return doc["stages"][name] if doc else {}

    def counter(self, stage: str, name: str) -> int:
        return int(self.stage(stage).get("counters", {}).get(name, 0))

    def wait_all_ready(self, timeout: float = 120.0) -> dict:
        def all_ready():
            self.check_alive()
            doc = self.health()
            return (
                doc if doc and all(doc["stages"][s]["state"] == "ready" for s in STAGES) else None
            )

        return wait_for(all_ready, timeout, "every stage READY")

    def check_alive(self) -> None:
        if self._running.poll() is not None:
            raise RuntimeError(
                f"supervisor exited with {self._running.returncode}:\n{self.output()[-3000:]}"
            )

    def wait_exit(self, timeout: float) -> int:
        self.exit_code = self._running.wait(timeout=timeout)
        return self.exit_code

    def events(self) -> list[dict]:
        """supervisor.jsonl, one dict per lifecycle event."""
        path = os.path.join(self.run_dir, "supervisor.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, "rb") as f:
            return [orjson.loads(line) for line in f if line.strip()]

    def read_json(self, name: str) -> dict:
        path = os.path.join(self.run_dir, name)
        if not os.path.exists(path):
            return {}
        with open(path, "rb") as f:
            return orjson.loads(f.read())

    def read_jsonl(self, name: str) -> list[dict]:
        path = os.path.join(self.run_dir, name)
        if not os.path.exists(path):
            return []
        with open(path, "rb") as f:
            return [orjson.loads(line) for line in f if line.strip()]

    def output(self) -> str:
        with open(self.output_path, "rb") as f:
            return f.read().decode(errors="replace")

    # -- cleanliness ---------------------------------------------------------------------------
    def _descendants(self) -> list[psutil.Process]:
        """Every process under the supervisor now: forkserver, stages, resource tracker."""
        try:
            return psutil.Process(self._running.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _kill_tree(self) -> None:
        for proc in self._descendants():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self._running.kill()
        self._running.wait(timeout=10)

    def _remove_leftovers(self, descendants: list[psutil.Process]) -> dict:
        """What outlived the supervisor: processes (killed here) and /dev/shm segments (removed
        here).

        Stages die with the forkserver, which dies with the supervisor, so a survivor is a defect
        worth reporting; it is given a moment to go before it counts.
        """
        _, alive = psutil.wait_procs(descendants, timeout=10)
        survivors = []
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                survivors.append({"pid": proc.pid, "cmdline": " ".join(proc.cmdline())[:200]})
                proc.kill()
        prefix = f"otrade_{self.run_id}_"
        segments = sorted(n for n in os.listdir(SHM_DIR) if n.startswith(prefix))
        for name in segments:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(SHM_DIR, name))
        leaked = {"processes": survivors, "segments": segments}
        return {k: v for k, v in leaked.items() if v}
