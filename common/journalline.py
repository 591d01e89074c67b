"""The journal line format: one JSON record sealed with the CRC32 of its own bytes.

A sealed line is still one valid JSON object, so every tool that reads journals as JSON lines (the
report, tests, `jq`) keeps working; the seal is its last member, fixed-width:

    {"type":"OrderSubmitting",...,"qty":1,"crc":"1c291ca3"}

The CRC covers every byte before `,"crc":` (the record as `codec.encode_json` wrote it, less its
closing brace). A flipped bit, a digit changed (`"qty":1` → `7`, still valid JSON) or a line cut
short and continued by the next one no longer matches, and the reader refuses the journal instead of
rebuilding a different position from it. CRC32 (stdlib zlib, C) costs a fraction of the encoding it
guards; it detects corruption, it does not authenticate (anyone who can write the file can reseal
it).

Lines without a seal (journals of an OTrade older than this format) are refused too, with a message
that says so: a file in which some records are checked and others are not would protect nothing, and
a day is not upgraded half-way. Imports only the standard library and `common.errors`.
"""

import os
import zlib

from common.errors import BusError

_TAG = b',"crc":"'
SEAL_LEN = len(_TAG) + 8 + 2          # ,"crc":"xxxxxxxx"}
_crc32 = zlib.crc32

WHAT_TO_DO = ("the journal is corrupt; restore it from a backup, or move it aside to start the "
              "account day fresh (the broker's order book stays the truth for what was sent)")


class JournalCorrupt(BusError):
    """A complete journal line that is not a sealed, readable record: recovery from it is refused.

    `path` is the journal, `line_no` the 1-based line, `problem` what is wrong with it.
    """

    def __init__(self, path: str, line_no: int, problem: str):
        self.path, self.line_no, self.problem = path, line_no, problem
        super().__init__(
            f"{os.path.basename(path)} line {line_no}: {problem} — {WHAT_TO_DO} ({path})"
        )


def seal(body: bytes) -> bytes:
    """`body` (a JSON object, no newline) sealed with its CRC, plus the newline: one journal
    line."""
    head = body[:-1]
    return head + b',"crc":"%08x"}\n' % _crc32(head)


def problem(line: bytes) -> str:
    """'' if `line` (without its newline) is a sealed record whose CRC matches, else what is
    wrong."""
    if line[-SEAL_LEN:-10] == _TAG:     # every good line takes only this branch: it runs per record
        if b'%08x"}' % _crc32(line[:-SEAL_LEN]) == line[-10:]:
            return ""
        return "checksum mismatch"
    if not line.strip():
        return "an empty line where a record should be"
    if line.startswith(b"{") and line.endswith(b"}") and _TAG not in line:
        return "a record without a checksum (written by an OTrade older than checksummed journals?)"
    return "not a complete record (cut short, or damaged where its checksum was)"


def line_number(fd: int, offset: int) -> int:
    """The 1-based number of the line that starts at byte `offset` (only for error messages)."""
    count, pos = 0, 0
    while pos < offset:
        chunk = os.pread(fd, min(1 << 20, offset - pos), pos)
        if not chunk:
            break
        count += chunk.count(b"\n")
        pos += len(chunk)
    return count + 1
