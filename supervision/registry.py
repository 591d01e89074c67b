"""A registry of live runs, so the next start can clean up after a supervisor that was SIGKILLed.

Each run writes `<registry>/<run_id>.json` naming its supervisor pid (with the process start time,
so a recycled pid is not mistaken for a live run), the exact names of its shared-memory segments,
and its ipc directory with the exact socket files in it. At start, every entry whose supervisor is
gone is swept. Runs that are still alive are never touched, so two supervisors can run side by side.

Trust (issue 12.5): a record is an instruction to delete files, so the registry must be ours alone.
- The directory is created 0700 and checked with lstat on every use: a symlink, a non-directory or a
  directory of another user is refused with a RegistryError (nothing is swept); a directory of ours
  with a looser mode is tightened to 0700.
- A record is read through O_NOFOLLOW and used only if it is a regular file owned by us.
- Only exact names are removed, never a prefix (dead run `a` must not match live run `a_b`): a
  segment only if `/dev/shm/<name>` is an `otrade_` file owned by us; a socket only if it is a
  socket owned by us inside the recorded directory; the directory only if it is then empty. Nothing
  is rmtree'd.
"""

from __future__ import annotations

import os
import stat
import tempfile

import orjson
import psutil

from common.errors import OTradeError
from common.shm import PREFIX, SHM_DIR

DEFAULT_DIR = os.path.join(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir(),
                           f"otrade-runs-{os.geteuid()}")


class RegistryError(OTradeError):
    """The run registry's directory cannot be trusted (a symlink, another user's, not a
    directory)."""


def registry_dir() -> str:
    path = os.path.abspath(os.environ.get("OTRADE_REGISTRY_DIR") or DEFAULT_DIR)
    ensure_private_dir(path)
    return path


def ensure_private_dir(
    path: str, what: str = "run registry", setting: str = "OTRADE_REGISTRY_DIR"
) -> None:
    """Create `path` 0700, or check that it is a real directory of ours (tightening its mode).
    `what` and `setting` name the directory and where to point it elsewhere in a refusal (the
    account home too)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise RegistryError(f"{what} {path} is a symlink: refusing to follow it (remove it, or set "
                            f"{setting} to a directory of yours)")
    if not stat.S_ISDIR(st.st_mode):
        raise RegistryError(f"{what} {path} is not a directory")
    if st.st_uid != os.geteuid():
        raise RegistryError(
            f"{what} {path} belongs to uid {st.st_uid}, not to us (uid {os.geteuid()}): "
            f"another user may have planted it; remove it or set {setting}"
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _alive(pid: int, create_time: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) >= 1.0:
            return False              # the pid was recycled: that run is dead
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def register(run_id: str, segments: list[str], ipc_dir: str, sockets: list[str]) -> str:
    """Record this run: its exact segment names, its ipc directory and the socket names in it."""
    me = psutil.Process()
    path = os.path.join(registry_dir(), f"{run_id}.json")
    doc = {"run_id": run_id, "pid": me.pid, "create_time": me.create_time(), "uid": os.geteuid(),
           "segments": list(segments), "ipc_dir": ipc_dir, "ipc_sockets": list(sockets)}
    tmp = f"{path}.{me.pid}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(doc))
    os.replace(tmp, path)
    return path


def unregister(run_id: str) -> None:
    try:
        os.unlink(os.path.join(registry_dir(), f"{run_id}.json"))
    except FileNotFoundError:
        pass


def _read_record(path: str) -> dict | None:
    """The record at `path` if it is a regular file of ours holding a JSON object, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return None
        try:
            doc = orjson.loads(f.read(1 << 20))
        except orjson.JSONDecodeError:
            return {}
    return doc if isinstance(doc, dict) else {}


def _ours(path: str, kind) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return kind(st.st_mode) and st.st_uid == os.geteuid()


def _remove_segments(names) -> list[str]:
    removed = []
    for name in names if isinstance(names, list) else []:
        if (
            not isinstance(name, str)
            or not name.startswith(PREFIX)
            or "/" in name
            or name in (".", "..")
        ):
            continue
        path = os.path.join(SHM_DIR, name)
        if _ours(path, stat.S_ISREG):
            try:
                os.unlink(path)
                removed.append(name)
            except FileNotFoundError:
                pass
    return removed


def _remove_sockets(ipc_dir, names) -> list[str]:
    if (
        not isinstance(ipc_dir, str)
        or not os.path.isabs(ipc_dir)
        or not _ours(ipc_dir, stat.S_ISDIR)
    ):
        return []
    removed = []
    for name in names if isinstance(names, list) else []:
        if not isinstance(name, str) or "/" in name or name in (".", ".."):
            continue
        path = os.path.join(ipc_dir, name)
        if _ours(path, stat.S_ISSOCK):
            try:
                os.unlink(path)
                removed.append(name)
            except FileNotFoundError:
                pass
    try:
        os.rmdir(ipc_dir)          # only if nothing else is left in it
    except OSError:
        pass
    return removed


def sweep_dead_runs() -> list[dict]:
    """Remove what dead runs left behind; return the entries swept (for the run log)."""
    swept = []
    base = registry_dir()
    for name in sorted(os.listdir(base)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(base, name)
        doc = _read_record(path)
        if doc is None:            # not a regular file of ours: not ours to act on, nor to delete
            continue
        try:
            pid, created = int(doc.get("pid", 0)), doc.get("create_time")
            created = None if created is None else float(created)
        except (TypeError, ValueError):
            pid, created = 0, None
        if pid > 0 and _alive(pid, created):
            continue
        segments = _remove_segments(doc.get("segments"))
        sockets = _remove_sockets(doc.get("ipc_dir"), doc.get("ipc_sockets"))
        os.unlink(path)
        swept.append(
            {"run_id": doc.get("run_id"), "pid": pid, "segments": segments, "sockets": sockets}
        )
    return swept


def live_runs() -> list[dict]:
    """The records of runs whose supervisor is alive (for `ctl` to find a run without --run-dir)."""
    base = registry_dir()
    runs = []
    for name in sorted(os.listdir(base)):
        doc = _read_record(os.path.join(base, name)) if name.endswith(".json") else None
        if not doc:
            continue
        try:
            pid, created = int(doc.get("pid", 0)), doc.get("create_time")
            alive = pid > 0 and _alive(pid, None if created is None else float(created))
        except (TypeError, ValueError):
            alive = False
        if alive:
            runs.append(doc)
    return runs
