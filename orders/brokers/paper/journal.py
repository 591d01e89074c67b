"""The paper exchange's own durable memory: an append-only JSON-lines file of what it did.

A real broker remembers every order it accepted however often OTrade's orders process dies; the
paper broker must too, or the in-doubt lookup after a restart would be make-believe. Each record (an
accepted or refused placement, a modify, a cancel, a stop trigger, a fill) is one JSON object on one
line, written with a single `os.write` on an O_APPEND descriptor before the broker call that caused
it returns; with `fsync=True` it is also fdatasync'd.

A SIGKILL can leave a torn last line (no newline): that record's call never returned, so the line is
cut off on open, exactly like an exchange that never acknowledged the request. A corrupt line
anywhere else means the simulated exchange lost its memory, which is fatal (BrokerFatal), never
skipped.

Imports only orjson, the standard library and `common.errors`.
"""

import fcntl
import os

import orjson

from common.errors import BrokerFatal


class PaperJournal:
    """Single writer of one paper-broker journal; `records` holds what was on disk when opened.

    Parameters
    ----------
    path : the journal file, created (mode 0600) if missing.
    fsync : also fdatasync every record (survives power loss, not just a process kill).

    Raises
    ------
    BrokerFatal
        If the file cannot be opened, another process holds it, or a record other than a torn last
        line cannot be read.
    """

    def __init__(self, path: str, *, fsync: bool = False):
        self.path = os.path.abspath(path)
        self.fsync = fsync
        self.truncated_bytes = 0
        self._fd = _open_locked(self.path)
        self.records: list[dict] = self._read_all()

    def append(self, record: dict) -> None:
        """Write one record durably (in the kernel; on disk too with fsync) before returning."""
        # OPT_APPEND_NEWLINE: the same bytes as dumps(record) + b"\n" without copying the line.
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        try:
            written = os.write(self._fd, line)
            if written < len(line):      # a short write (rare: a full disk, a signal): finish it
                view = memoryview(line)[written:]
                while view:
                    view = view[os.write(self._fd, view):]
            if self.fsync:
                os.fdatasync(self._fd)
        except OSError as e:
            raise BrokerFatal(f"paper journal {self.path}: write failed: {e}") from None

    def close(self) -> None:
        """Close the file and release the writer lock. Safe to call twice."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read_all(self) -> list[dict]:
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size, 0) if size else b""
        good_end = data.rfind(b"\n") + 1
        if good_end < len(data):
            os.ftruncate(self._fd, good_end)
            self.truncated_bytes = len(data) - good_end
        lines = [line for line in data[:good_end].split(b"\n") if line.strip()]
        # One parse of the whole day as a JSON array (a reopen on a busy day was ~7,000 parses).
        # Any doubt (a line that does not parse, or parses as other than one object) and the
        # lines are parsed one by one, which names the bad one.
        try:
            records = orjson.loads(b"[" + b",".join(lines) + b"]") if lines else []
        except orjson.JSONDecodeError:
            records = None
        if records is None or len(records) != len(lines) or \
                not all(type(r) is dict for r in records):
            records = self._parse_each(data[:good_end])
        return records

    def _parse_each(self, data: bytes) -> list[dict]:
        records = []
        for line_no, line in enumerate(data.split(b"\n")[:-1], start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                record, problem = None, str(e)
            else:
                problem = "" if type(record) is dict else f"a {type(record).__name__}, not a record"
            if problem:
                self.close()
                raise BrokerFatal(f"paper journal {self.path}: line {line_no} is corrupt: "
                                  f"{problem}") from None
            records.append(record)
        return records


def _open_locked(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise BrokerFatal(f"cannot open paper journal {path}: {e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BrokerFatal(f"paper journal {path} is open in another paper broker") from None
    return fd
