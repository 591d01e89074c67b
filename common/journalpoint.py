"""A point in a journal that a snapshot reflects, identified well enough to refuse another journal.

A snapshot of state derived from a journal's first records is only usable with the journal it was
taken from, and only if that journal still holds those records: `JournalPoint` records the last seq
consumed, the byte offset just past its line, that line's number, and a digest of the journal's
first line and of the line ending at the offset. Every journal line carries a CRC seal and its seq,
so comparing the digests of those two lines identifies the journal cheaply (two reads, whatever its
size). `check` says why a point does not fit a journal (`JournalMismatch`): it is ahead of it
(the journal is shorter: a power cut lost its tail, or it was replaced), or another journal (the
account day's journal was replaced or rewritten).

Used by both stages' snapshots (orders/snapshot.py, positions/snapshot.py). Imports the standard
library and msgspec.
"""

from __future__ import annotations

import hashlib
import os

import msgspec

_READ = 1 << 16


class JournalMismatch(Exception):
    """The point does not belong to this journal (or this journal no longer holds it); says why."""


class JournalPoint(msgspec.Struct, forbid_unknown_fields=True):
    seq: int
    offset: int
    line_no: int
    first_line: str      # digest of the journal's first line ("" for offset 0)
    last_line: str       # digest of the line that ends at `offset` ("" for offset 0)


def point_of(path: str, seq: int, offset: int, line_no: int) -> JournalPoint:
    """The point just past the line of `seq`, which ends at byte `offset` of the journal `path`."""
    if not offset:
        return JournalPoint(seq, 0, 0, "", "")
    return JournalPoint(seq, offset, line_no, _digest(_first_line(path)),
                        _digest(_line_ending_at(path, offset)))


def check(point: JournalPoint, path: str) -> None:
    """Raises JournalMismatch unless the journal `path` holds, up to `point.offset`, the records the
    point was taken after."""
    if point.offset == 0:
        if point.seq or point.line_no:
            raise JournalMismatch("inconsistent: a seq with no journal position")
        return
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    if size < point.offset:
        raise JournalMismatch(
            f"ahead of the journal: it reflects {point.offset} bytes (seq {point.seq}), "
            f"{path} has {size}")
    if _digest(_first_line(path)) != point.first_line:
        raise JournalMismatch(f"from another journal: {path} starts with another record")
    if _digest(_line_ending_at(path, point.offset)) != point.last_line:
        raise JournalMismatch(
            f"from another journal: the record ending at byte {point.offset} of {path} "
            f"is not seq {point.seq} as it saw it")


def read_snapshot(path: str, refused: type[Exception]) -> bytes | None:
    """A snapshot file's bytes; None when there is none. An unreadable file raises `refused` with
    the reason: a stage then starts from its whole journal, never from a half-read state."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise refused(f"unreadable: {e}") from None


def _digest(line: bytes) -> str:
    return hashlib.blake2b(line, digest_size=16).hexdigest()


def _first_line(path: str) -> bytes:
    with open(path, "rb") as f:
        line = f.readline()
    return line if line.endswith(b"\n") else b""


def _line_ending_at(path: str, offset: int) -> bytes:
    """The complete line whose newline is the byte before `offset` (b"" if that is no newline)."""
    with open(path, "rb") as f:
        start = offset
        while True:
            start = max(0, start - _READ)
            f.seek(start)
            data = f.read(offset - start)
            if not data.endswith(b"\n"):
                return b""
            cut = data.rfind(b"\n", 0, len(data) - 1)
            if cut >= 0 or start == 0:
                return data[cut + 1:]
