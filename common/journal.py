"""Append-only JSON-lines journals: the durable record of everything that moves money.

One file per producer (`<run_dir>/orders.jsonl`, ...), one message per line (`codec.encode_json`, so
each line carries its "type" and its per-source `seq`, strictly increasing down the file). The
producer appends before or as it publishes; a consumer that restarts, or sees a gap on the bus,
reads the journal from its last processed seq and then follows it or the live socket.

Durability contract: when `JournalWriter.flush()` returns, every appended record is in the kernel
(it survives a SIGKILL of the writer); with fsync="batch" it is also on disk (survives power loss).
Writes are `os.write` on an O_APPEND descriptor, one call per flush, so a reader sees whole records
or a partial last line, never interleaving.

Integrity: every line is sealed with the CRC32 of its record (common/journalline.py) and a
complete line that is not a sealed, readable record raises `JournalCorrupt` naming the file, the
line and what to do: a journal is the truth a restart rebuilds positions and orders from, so a
damaged record in the middle refuses recovery rather than silently changing what is rebuilt.

Crash recovery: a crash can leave a torn last line (no newline). That is the one damage that is
repaired: opening a writer cuts it off and reads `last_seq` from the last record, so a restarted
producer continues its numbering; readers never consume a line until its newline is there. One
writer per file: a second one is refused (flock), so two copies of a stage can never interleave
records. Imports only msgspec, the standard library and `common`.
"""

import fcntl
import os
from itertools import islice
from typing import Iterator

import msgspec

from common.codec import decode_json, decode_json_dict, encode_json
from common.errors import BusError
from common.journalline import JournalCorrupt, line_number, problem, seal
from common.messages import Message

FSYNC_POLICIES = ("never", "batch", "always")
_CHUNK = 1 << 20          # read granularity, and the most a writer buffers before writing


class _SeqOnly(msgspec.Struct):
    seq: int = 0


# Decodes only "seq" and skips the rest in C: cheap for the records before a catch-up point.
_seq_decoder = msgspec.json.Decoder(_SeqOnly)


class JournalWriter:
    """The single writer of one journal file.

    Parameters
    ----------
    path : the journal file; created (mode 0600) if missing.
    fsync : "never" (the OS decides when to write back), "batch" (fdatasync on every flush) or
        "always" (every append is written and fdatasync'd at once).
    verify : read every record back before appending it, so a value JSON cannot carry (NaN, a float
        in an int field) fails loudly at the producer instead of leaving an unreadable line.

    Raises
    ------
    ValueError
        For an unknown fsync policy.
    JournalCorrupt
        If the file's last complete line is not a sealed record (a torn line without its newline is
        cut instead: that is what a crash mid-write leaves).
    BusError
        If another writer holds the file, or the file cannot be opened.
    """

    def __init__(self, path: str, fsync: str = "batch", *, verify: bool = True):
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"journal fsync policy must be one of {FSYNC_POLICIES}, got {fsync!r}")
        self.path = os.path.abspath(path)
        self.fsync = fsync
        self._verify = verify
        created = not os.path.exists(self.path)
        self._fd = _open_locked(self.path)
        try:
            self.truncated_bytes, self.last_seq = _recover_tail(self._fd, self.path)
            if fsync != "never":
                os.fdatasync(self._fd)
                if created:
                    _fsync_dir(os.path.dirname(self.path))
        except OSError as e:
            os.close(self._fd)
            raise BusError(f"cannot recover journal {self.path}: {e}") from None
        except JournalCorrupt:
            os.close(self._fd)
            raise
        self._pending: list[bytes] = []
        self._unsynced = False        # written to the kernel since the last fdatasync
        self._pending_bytes = 0
        self._failed = False
        self.appended = 0

    def append(self, msg: Message) -> None:
        """Add one stamped message (its seq must exceed `last_seq`); written on `flush()`.

        Raises
        ------
        BusError
            If the seq does not increase, the record would not read back, or a write failed earlier.
        """
        if self._failed:
            raise BusError(f"journal {self.path}: an earlier write failed; reopen it")
        if msg.seq <= self.last_seq:
            raise BusError(f"journal {self.path}: seq {msg.seq} does not follow {self.last_seq}")
        body = encode_json(msg)
        if self._verify:
            try:
                decode_json(body)
            except BusError as e:
                raise BusError(f"journal {self.path}: refusing an unreadable record: {e}") from None
        line = seal(body)
        self.last_seq = msg.seq
        self.appended += 1
        if self.fsync == "always":
            self._write(line)
            os.fdatasync(self._fd)
            return
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= _CHUNK:
            self._write_pending()

    def flush(self) -> None:
        """Hand every appended record to the kernel; with fsync="batch", also to the disk.

        A flush with nothing appended since the last one costs nothing (orders flushes every loop).
        """
        self._write_pending()
        if self.fsync == "batch" and self._unsynced:
            os.fdatasync(self._fd)
            self._unsynced = False

    def close(self) -> None:
        """Flush and close (releasing the writer lock). Safe to call twice."""
        if self._fd < 0:
            return
        try:
            if not self._failed:
                self.flush()
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "JournalWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write_pending(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            self._write(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                # A short write (a signal, a full disk) leaves the rest to write, never to drop.
                view = view[os.write(self._fd, view):]
            self._unsynced = True
        except OSError as e:
            # A partial line may now end the file; only a reopen (which cuts it) can repair that.
            self._failed = True
            raise BusError(f"journal {self.path}: write failed: {e}") from None


def _open_locked(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise BusError(f"cannot open journal {path}: {e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BusError(f"journal {path} is already open for writing by another writer") from None
    return fd


def _recover_tail(fd: int, path: str) -> tuple[int, int]:
    """Cut a torn last line; return (bytes cut, seq of the last record or 0).

    Only the last complete line is checked here (readers check every line): if it is not a sealed
    record the file was damaged, not torn, and appending after it would bury the damage.
    """
    size = os.fstat(fd).st_size
    good_end = _end_of_last_line(fd, size)
    if good_end < size:
        os.ftruncate(fd, good_end)
    if good_end == 0:
        return size, 0
    start = _end_of_last_line(fd, good_end - 1)
    line = os.pread(fd, good_end - 1 - start, start)
    wrong = problem(line)
    if wrong:
        raise JournalCorrupt(path, line_number(fd, start), wrong)
    # Only the seq is read: a record an older schema wrote still fixes the numbering, so a restarted
    # producer never reuses a seq that is already in the file.
    try:
        return size - good_end, _seq_decoder.decode(line).seq
    except msgspec.DecodeError as e:
        raise JournalCorrupt(
            path, line_number(fd, start), f"a sealed record without a readable seq: {e}"
        ) from None


def _end_of_last_line(fd: int, size: int) -> int:
    """The offset just past the last newline before `size` (0 if there is none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _CHUNK)
        i = os.pread(fd, pos - start, start).rfind(b"\n")
        if i >= 0:
            return start + i + 1
        pos = start
    return 0


def _fsync_dir(path: str) -> None:
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)  # makes the new file's directory entry durable, not just its bytes
    finally:
        os.close(dfd)


class JournalReader:
    """Reads one journal, from the start or where it left off, while it may still be written.

    `offset` is the byte just past the last line consumed, `line_no` that line's number and
    `last_seq` the seq of the last record consumed. Every complete line read is checked against its
    seal, including the lines before a catch-up point that are otherwise only read for their seq.

    Raises (from `read_from` and `poll`, while iterating)
    ------
    JournalCorrupt
        At the first complete line that is not a sealed record, or whose record this version of
        OTrade cannot decode; the reader stays before that line (reading again raises again).
    BusError
        If the file shrank below what was already read (it was replaced or truncated under us).
    """

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self._fd = -1
        self.offset = self.line_no = self.last_seq = 0
        self._rewind()

    def read_from(self, seq: int) -> Iterator[Message]:
        """Every record with msg.seq >= seq, up to the file's last complete line, in file order.

        Lines before `seq` are only checked for their seq. When every record consumed so far has a
        smaller seq, reading resumes at `offset` (seqs increase down the file), so a consumer that
        catches up after each gap does not rescan the file; otherwise it starts from the top.
        Afterwards `poll()` continues from where this stopped.
        """
        if seq <= self.last_seq:
            self._rewind()
        return self._records(seq)

    def skip_below(self, seq: int) -> None:
        """Move the reader, still at the top, to about the first line whose seq is >= `seq`,
        without reading the lines before it: found by bisecting the file on the seqs (they increase
        down the file), so a restart that resumes deep into a busy day's journal reads a few pages
        instead of every line. Those lines are therefore NOT checked against their seal: for a
        caller that has handled them already (their records are in its own journal). The position
        may fall short of the exact line; `read_from(seq)` reads on from it as usual."""
        if seq <= 1 or self.offset or self._open() < 0:
            return
        size = _end_of_last_line(self._fd, os.fstat(self._fd).st_size)
        lo, hi = 0, size          # lo: a line start whose seq is below `seq` (or the top)
        while hi - lo > _BISECT_DONE:
            start = _line_start_after(self._fd, (lo + hi) // 2, hi)
            line_seq = _seq_at(self._fd, start) if start < hi else None
            if line_seq is None:
                break             # no whole line in the upper half, or not a record: read from lo
            if line_seq < seq:
                lo = start
            else:
                hi = start
        if lo:
            self.offset, self.line_no = lo, line_number(self._fd, lo) - 1

    def poll(self, max_records: int | None = None) -> list[Message]:
        """The records completed since the last call (a partial last line waits for next time)."""
        return list(islice(self._records(0), max_records))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _rewind(self) -> None:
        self.offset = 0
        self.line_no = 0
        self.last_seq = 0

    def __enter__(self) -> "JournalReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _records(self, min_seq: int) -> Iterator[Message]:
        for line in self._complete_lines():
            msg = self._parse(line, min_seq)    # raises before the position moves past a bad line
            self.offset += len(line) + 1
            self.line_no += 1
            if msg is not None:
                yield msg

    def _open(self) -> int:
        """The descriptor, opened if need be (-1 while the writer has not created the file)."""
        if self._fd < 0:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                pass
        return self._fd

    def _complete_lines(self) -> Iterator[bytes]:
        """Each complete line after `offset` (the caller advances `offset` past each it
        consumed)."""
        if self._open() < 0:
            return  # the writer has not created it yet
        if os.fstat(self._fd).st_size < self.offset:
            raise BusError(f"journal {self.path} shrank below offset {self.offset}: replaced?")
        while True:
            data = _read_to_last_newline(self._fd, self.offset)
            if not data:
                return
            yield from data.split(b"\n")[:-1]

    def _parse(self, line: bytes, min_seq: int) -> Message | None:
        wrong = problem(line)
        if wrong:
            raise JournalCorrupt(self.path, self.line_no + 1, wrong)
        if min_seq > 0:
            try:
                seq = _seq_decoder.decode(line).seq
            except msgspec.DecodeError:
                seq = min_seq  # the full decode below names the problem
            if seq < min_seq:
                self.last_seq = max(self.last_seq, seq)
                return None
        try:
            msg = decode_json(line)
        except BusError as e:
            # Sealed, so not damaged: a record type or field this version does not know. Skipping
            # it would rebuild a different state, so it is refused like a damaged one.
            raise JournalCorrupt(
                self.path,
                self.line_no + 1,
                f"a record this OTrade cannot read (another version wrote it?): {e}",
            ) from None
        self.last_seq = msg.seq
        return msg


_BISECT_DONE = 1 << 16    # skip_below stops bisecting within this many bytes of its line


def _line_start_after(fd: int, at: int, limit: int) -> int:
    """The offset of the first line that starts after byte `at` (`limit` if none before it)."""
    while at < limit:
        data = os.pread(fd, min(_CHUNK, limit - at), at)
        found = data.find(b"\n")
        if found >= 0:
            return at + found + 1
        at += len(data)
    return limit


def _seq_at(fd: int, start: int) -> int | None:
    """The seq of the record on the line starting at `start`; None if it has none."""
    want = 4096
    while True:
        data = os.pread(fd, want, start)
        end = data.find(b"\n")
        if end >= 0 or len(data) < want:
            break
        want *= 2         # a line longer than the window
    if end < 0:
        return None       # a partial last line
    line = data[:end]
    try:
        return _seq_decoder.decode(line).seq
    except msgspec.DecodeError:
        return None


def _read_to_last_newline(fd: int, offset: int) -> bytes:
    """Bytes from `offset` through the last newline readable now (b"" if no complete line yet)."""
    want = _CHUNK
    while True:
        data = os.pread(fd, want, offset)
        end = data.rfind(b"\n") + 1
        if end or len(data) < want:
            return data[:end]
        want *= 2  # one line longer than a chunk: read further until its newline


def read_dicts(path: str) -> list[dict]:
    """A journal's records as raw dicts, for reports and tests: lines that are not sealed records (a
    torn tail, damage) are skipped here; recovery reads through JournalReader, which refuses
    them."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    records = []
    for line in data.split(b"\n")[:-1]:
        if not problem(line):
            try:
                records.append(decode_json_dict(line))
            except BusError:
                continue
    return records
