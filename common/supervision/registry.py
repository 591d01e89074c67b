"""A registry of live runs, so the next start can clean up after a supervisor that was SIGKILLed.

Each run writes `<registry>/<run_id>.json` naming its supervisor pid (with the process start time, so
a recycled pid is not mistaken for a live run), its shared-memory segments and its ipc directory.
At start, every entry whose supervisor is gone is swept: segments unlinked, socket files removed.
Runs that are still alive are never touched, so two supervisors can run side by side.
"""

from __future__ import annotations

import os
import shutil

import orjson
import psutil

from common.shm import remove_stale

DEFAULT_DIR = os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "otrade-runs")


def registry_dir() -> str:
    path = os.environ.get("OTRADE_REGISTRY_DIR", DEFAULT_DIR)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _alive(pid: int, create_time: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def register(run_id: str, segment_prefix: str, ipc_dirs: list[str]) -> str:
    me = psutil.Process()
    path = os.path.join(registry_dir(), f"{run_id}.json")
    doc = {"run_id": run_id, "pid": me.pid, "create_time": me.create_time(),
           "segment_prefix": segment_prefix, "ipc_dirs": ipc_dirs}
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(doc))
    os.replace(tmp, path)
    return path


def unregister(run_id: str) -> None:
    try:
        os.unlink(os.path.join(registry_dir(), f"{run_id}.json"))
    except FileNotFoundError:
        pass


def sweep_dead_runs() -> list[dict]:
    """Remove what dead runs left behind; return the entries swept (for the run log)."""
    swept = []
    base = registry_dir()
    for name in sorted(os.listdir(base)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(base, name)
        try:
            with open(path, "rb") as f:
                doc = orjson.loads(f.read())
        except (OSError, orjson.JSONDecodeError):
            os.unlink(path)
            continue
        if _alive(int(doc.get("pid", 0)), float(doc.get("create_time", 0))):
            continue
        removed = remove_stale(doc["segment_prefix"])
        for d in doc.get("ipc_dirs", []):
            shutil.rmtree(d, ignore_errors=True)
        os.unlink(path)
        swept.append({"run_id": doc.get("run_id"), "pid": doc.get("pid"), "segments": removed})
    return swept
