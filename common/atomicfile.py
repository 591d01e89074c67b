"""Replace a small state file atomically: a reader (or a restart) sees the old content or the new,
never half.

The new bytes go to a temporary file in the same directory (a rename is atomic only within one file
system), are fsync'd, and only then renamed over the target; the directory is fsync'd afterwards so
the rename itself survives a power cut. A failure at any step (a full disk, a signal) leaves the old
file as it was and removes the temporary. The file is created private (0600): it holds positions and
P&L. `read_object` reads such a file back as a JSON object. Imports the standard library and orjson.
"""

import os
import tempfile

import orjson


def write_atomic(path: str, data: bytes, *, durable: bool = True) -> None:
    """Make `path` hold exactly `data`, atomically.

    Parameters
    ----------
    durable : also fsync the file and its directory (survives power loss, costs a disk flush);
        without it the replacement is still atomic for every reader and survives a process crash.

    Raises
    ------
    OSError
        If the temporary cannot be written or renamed; `path` is then unchanged.
    """
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)  # mode 0600
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]   # a short write continues, never truncates
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        _unlink_quietly(tmp)
        raise
    if durable:
        _fsync_dir(directory)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_object(path: str) -> dict:
    """A state file's JSON object; {} when it is missing, unreadable or not an object."""
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}
