"""A restorable snapshot of the position book, so a restart reads only the orders journal's tail.

Without it a (re)started positions stage re-reads the whole orders journal from seq 1, and that
journal is the broker account's whole trading day (supervision/accountday.py): late in a busy day
every restart decoded every record again. The snapshot holds the book's full state
(`PositionBook.state()`: unrounded positions, every fill id seen, the duplicate count), the orders
seq it reflects, and where in the journal that seq ends (byte offset and line number), so a restart
loads it, puts the journal reader just past that line and applies only what follows.

Where: `positions.snapshot.json` in ctx.state, beside `orders.jsonl`. The book is the account
day's (positions catches up from that day's journal, not the run's), so the snapshot belongs to the
day too: a new run on the same day starts from it rather than from seq 1. `positions.json` in the
run dir stays the run's view (rounded, marked to market, with the last reconcile).

It is written only when the journal already holds every record the book reflects (the socket can
deliver a record before orders has flushed it), so a snapshot never claims more than the journal
can confirm. It is refused — `SnapshotRefused`, named in the log by the stage, which then re-reads
the whole journal — when it is unreadable or of another format, when the journal is shorter than
its offset (ahead of the journal), or when the journal's first line or the line ending at its offset
is not the one it saw (another journal: the day's journal was replaced or rewritten). Both lines
carry a CRC seal and their seq, so comparing their bytes' digest identifies the journal cheaply.
"""

from __future__ import annotations

import msgspec

from common.atomicfile import write_atomic
from common.journal import JournalReader
from common.journalpoint import JournalMismatch, JournalPoint, check, point_of, read_snapshot
from positions.positionbook import PositionBook

SNAPSHOT_FILE = "positions.snapshot.json"
FORMAT = "otrade.positions.snapshot/1"


class SnapshotRefused(Exception):
    """The snapshot cannot be trusted for this journal; the message says why."""


class _Position(msgspec.Struct, forbid_unknown_fields=True):
    instrument: int
    symbol: str
    qty: int
    avg_price: float
    gross_realised_inr: float
    fees_inr: float
    last_price: float
    buy_qty: int
    sell_qty: int


class _Book(msgspec.Struct, forbid_unknown_fields=True):
    positions: list[_Position]
    fill_ids: list[str]
    duplicates: int
    last_fill_seq: int


class _Snapshot(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    journal: JournalPoint
    book: _Book


_decoder = msgspec.json.Decoder(_Snapshot)


def save(path: str, book: PositionBook, reader: JournalReader, *, durable: bool) -> None:
    """Write the book as of the reader's position (the caller has applied every record the reader
    consumed and nothing beyond them). Atomic: a crash leaves the previous snapshot."""
    where = point_of(reader.path, reader.last_seq, reader.offset, reader.line_no)
    doc = {"format": FORMAT, "journal": where, "book": book.state()}
    write_atomic(path, msgspec.json.encode(doc), durable=durable)


def load(path: str, reader: JournalReader, symbols: list[str]) -> PositionBook | None:
    """The snapshot's book, with `reader` placed just past the last record it reflects; None when
    there is no snapshot.

    Raises
    ------
    SnapshotRefused
        If it is unreadable, of another format, ahead of the journal or from another journal;
        `reader` is then untouched.
    """
    raw = read_snapshot(path, SnapshotRefused)
    if raw is None:
        return None
    try:
        snap = _decoder.decode(raw)
    except msgspec.DecodeError as e:
        raise SnapshotRefused(f"unreadable: {e}") from None
    if snap.format != FORMAT:
        raise SnapshotRefused(f"format {snap.format!r}, this OTrade reads {FORMAT!r}")
    try:
        check(snap.journal, reader.path)
    except JournalMismatch as e:
        raise SnapshotRefused(str(e)) from None
    book = PositionBook.from_state(symbols, msgspec.to_builtins(snap.book))
    reader.offset, reader.line_no, reader.last_seq = (
        snap.journal.offset, snap.journal.line_no, snap.journal.seq)
    return book
