"""A restorable snapshot of the orders engine's journal-derived state: a restart applies only the
journal's tail instead of every event of the account day.

What it holds: exactly what `OrderEngine.restore` rebuilds by applying journaled events (`_apply`),
before restore's own finishing steps (market snapshot, day roll, prune): the order book with its
indexes and fill ids, the bracket desk (brackets, active set, per-instrument index, reach sums,
touched set, SL-stop list), the exposure (positions, day P&L, the IST day, and the market fields
the journal's markers set), the order-rate throttle's windows, and the engine's own fields `_apply`
sets (`ENGINE_FIELDS`: marked tick and time, intents seen, denied intents, trading state and reason,
the halt's reasons, loss-halt day, flattening). Their construction parameters (tick sizes, freeze
quantities, stop type, rate limits: config) are not in it: they are the restarted engine's own.

How it is made, so that it can only ever hold what the journal holds: not from the live engine
(whose state also reflects ticks, plans and broker calls), but from a shadow engine that applies the
journal's records read back from the file (orders/snapshotwriter.py), in a process of its own
(orders/snapshotprocess.py) so that the orders loop never pays for applying or pickling.

The file, `orders.snapshot` in ctx.state (the account day's, beside `orders.jsonl`): one JSON header
line, then the pickled state. Pickle, not msgspec structs: the state is an object graph whose
sharing matters (an `Order` sits in the book's dict and in its working indexes, a `Bracket` in the
desk's dicts and its reach sums) and pickle keeps it with no per-class schema to keep in step; the
file is our own, written 0600 (common/atomicfile.py) in the user's private state dir next to the
journal it summarises (whoever can write there can write the journal too), and it is unpickled only
after the header's checks pass, including the payload's digest. It is refused — `SnapshotRefused`,
logged by the stage with its reason, which then applies the whole journal — when it is unreadable
or corrupt; of another format; of another code version (a digest of the sources whose classes it
pickles and of the Python, numpy and msgspec versions); of another configuration (risk limits,
fees, broker, instrument table); ahead of the journal or from another journal
(common/journalpoint.py); when `fills.jsonl` lacks a fill the snapshot reflects (a full read
completes it); or when its state does not fit the engine's attributes.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import io
import operator
import os
import pickle
import sys
from collections.abc import Callable

import msgspec
import numpy as np

from common.atomicfile import write_atomic
from common.clock import mono_ns
from common.journal import JournalReader
from common.journalpoint import JournalMismatch, JournalPoint, check, read_snapshot
from orders.brackets import Bracket, Place
from orders.orderbook import Order

SNAPSHOT_FILE = "orders.snapshot"
FORMAT = "otrade.orders.snapshot/1"
# The writer's cadence: a restart applies at most about this many records or seconds of tail. A
# write costs the writer's process ~100-150 ms of CPU on a busy day, at idle priority (never the
# orders loop's), so it can afford to be frequent.
MIN_EVENTS = 1_000                  # journal records since the last snapshot before another
MIN_INTERVAL_NS = 2_000_000_000     # and this much time
CHUNK = 5_000                       # journal records read and applied at a time (bounds memory)
PIECE = 1_000                       # entries of a large dict pickled as one piece
# The engine's own fields `_apply` sets (everything else it sets is inside the four objects below).
ENGINE_FIELDS = ("_marked_seq", "_marked_ns", "_intents_seen", "denied", "trading_state",
                 "state_reason", "halt_reasons", "loss_halt_day_ns", "flattening")
# Attributes that are construction parameters and wiring, not journal-derived state.
_WIRING = {
    "book": frozenset(),
    "desk": frozenset({"_tick_size", "_freeze", "_stop_type", "_stop_limit_ticks", "_from_fill",
                       "_last_price"}),
    "exposure": frozenset(),
    "throttle": frozenset({"limits", "venue_per_sec"}),
}
# The sources whose classes and semantics the pickled state depends on: the engine's package and
# every module of common/ that `_apply` computes state with (pricegrid: the brackets' stop, target
# and leg prices; ids: the client order ids of a bracket's entry plan).
_SOURCES = ("orders", "common/messages.py", "common/accounting.py", "common/clock.py",
            "common/tradingstate.py", "common/pricegrid.py", "common/ids.py")
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reducer(cls):
    """Pickle a slotted dataclass as its constructor and field values: its own slots reduction is
    Python code per object and made a busy day's snapshot 5x slower to write."""
    fields = dataclasses.fields(cls)
    assert all(f.init for f in fields), cls
    values = operator.attrgetter(*[f.name for f in fields])
    return lambda obj: (cls, values(obj))


_REDUCERS: dict = {cls: _reducer(cls) for cls in (Order, Bracket, Place)}


class SnapshotRefused(Exception):
    """The snapshot cannot be trusted for this journal, code or configuration; says why, and
    names the reason in `kind` (one of KINDS) for the stage's log and counters."""

    def __init__(self, message: str, kind: str = "unreadable"):
        super().__init__(message)
        self.kind = kind


# The named reasons a snapshot is refused for.
KINDS = ("unreadable", "format", "code_version", "configuration", "ahead_of_journal",
         "another_journal", "fills_behind", "corrupt", "layout")


class Header(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    code: str
    context: str
    journal: JournalPoint
    last_fill_seq: int
    payload: str        # digest of the pickled state that follows the header line
    payload_bytes: int


_header_decoder = msgspec.json.Decoder(Header)


@functools.cache
def code_digest() -> str:
    """A digest of this OTrade's sources that define the snapshot's state, and of the versions of
    Python, numpy and msgspec that pickle it."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{sys.version}|{np.__version__}|{msgspec.__version__}".encode())
    for rel in _SOURCES:
        full = os.path.join(_ROOT, rel)
        paths = [full] if full.endswith(".py") else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(full) for f in fs if f.endswith(".py"))
        for p in paths:
            h.update(os.path.relpath(p, _ROOT).encode())
            with open(p, "rb") as f:
                h.update(hashlib.blake2b(f.read(), digest_size=16).digest())
    return h.hexdigest()


def context_digest(config, rows: np.ndarray) -> str:
    """A digest of what an engine is built from (OrderEngine.from_config): risk limits, fees and
    broker, and the instrument table."""
    h = hashlib.blake2b(digest_size=16)
    h.update(msgspec.json.encode([config.risk, config.fees, config.broker]))
    h.update(np.ascontiguousarray(rows).tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------ state in and out

def pieces(engine, size: int = PIECE):
    """The engine's journal-derived state as a sequence of small pieces to pickle one after another
    with ONE pickler (its memo keeps shared objects shared across pieces), so that writing it can be
    spread over several commits. A piece is (part, name, value), or (part, name, items) with name
    prefixed by "+" for a slice of a large dict's items, in order."""
    yield ("engine", "", {name: getattr(engine, name) for name in ENGINE_FIELDS})
    for part, wiring in _WIRING.items():
        for name, value in vars(getattr(engine, part)).items():
            if name in wiring:
                continue
            if isinstance(value, dict) and len(value) > size:
                items = list(value.items())
                yield (part, name, {})
                for i in range(0, len(items), size):
                    yield (part, "+" + name, items[i:i + size])
            else:
                yield (part, name, value)


class Capture:
    """A snapshot being pickled, piece by piece (see `pieces`)."""

    def __init__(self, engine, size: int = PIECE):
        self._out = io.BytesIO()
        self._pickler = pickle.Pickler(self._out, protocol=pickle.HIGHEST_PROTOCOL)
        self._pickler.dispatch_table = _REDUCERS     # this pickler's only: copyreg is left alone
        self._pieces = pieces(engine, size)
        self.done = False

    def step(self, budget_ns: int, clock: Callable[[], int] = mono_ns) -> bool:
        """Pickle pieces until `budget_ns` has been spent (at least one); True once all are."""
        end = clock() + budget_ns
        enabled = gc.isenabled()
        gc.disable()
        try:
            for piece in self._pieces:
                self._pickler.dump(piece)
                if clock() >= end:
                    return False
        finally:
            if enabled:
                gc.enable()
        self.done = True
        return True

    def payload(self) -> memoryview:
        return self._out.getbuffer()


def capture(engine) -> bytes:
    """The engine's journal-derived state, pickled at once."""
    c = Capture(engine)
    while not c.step(1 << 62):
        pass
    return bytes(c.payload())


class Loading:
    """A snapshot's state being unpickled, piece by piece (see `pieces`): the writer's shadow
    starts this way, spread over commits; a restart does it at once (`put`)."""

    def __init__(self, payload: bytes):
        self._unpickler = pickle.Unpickler(io.BytesIO(payload))
        self.state: dict = {}
        self.done = False

    def step(self, budget_ns: int, clock: Callable[[], int] = mono_ns) -> bool:
        """Unpickle pieces until `budget_ns` has been spent (at least one); True once all are.

        Raises
        ------
        SnapshotRefused
            If the payload cannot be unpickled.
        """
        end = clock() + budget_ns
        enabled = gc.isenabled()
        gc.disable()          # tens of thousands of new objects: no collection passes over them
        try:
            while True:
                try:
                    part, name, value = self._unpickler.load()
                except EOFError:
                    self.done = True
                    return True
                if part == "engine":
                    self.state["engine"] = value
                elif name.startswith("+"):
                    self.state[part][name[1:]].update(value)
                else:
                    self.state.setdefault(part, {})[name] = value
                if clock() >= end:
                    return False
        except (pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError,
                KeyError, IndexError) as e:
            raise SnapshotRefused(f"unreadable state: {e!r}", "corrupt") from None
        finally:
            if enabled:
                gc.enable()


def put(engine, payload: bytes) -> None:
    """Load `capture` output into a freshly built engine (nothing applied yet), as if it had
    applied the records the snapshot reflects.

    Raises
    ------
    SnapshotRefused
        If the payload cannot be unpickled or its state does not fit the engine's attributes; the
        engine is then untouched.
    """
    loading = Loading(payload)
    while not loading.step(1 << 62):
        pass
    put_state(engine, loading.state)


def put_state(engine, state: dict) -> None:
    """`put` of an unpickled state (Loading.state).

    Raises
    ------
    SnapshotRefused
        If the state does not fit the engine's attributes; the engine is then untouched.
    """
    if engine._marked_seq or engine.book.orders or engine.desk.brackets:
        raise ValueError("a snapshot loads only into an engine that has applied nothing")
    for part, wiring in _WIRING.items():
        have = set(vars(getattr(engine, part))) - wiring
        if not isinstance(state.get(part), dict) or set(state[part]) != have:
            raise SnapshotRefused(f"its {part} state does not fit this engine's", "layout")
    if set(state.get("engine", ())) != set(ENGINE_FIELDS):
        raise SnapshotRefused("its engine fields do not fit this engine's", "layout")
    for name, value in state["engine"].items():
        setattr(engine, name, value)
    for part in ("book", "desk", "throttle"):
        vars(getattr(engine, part)).update(state[part])
    ex = engine.exposure
    for name, value in state["exposure"].items():
        now = getattr(ex, name)
        # Arrays are filled in place: others hold them (the desk holds `last_price`).
        if isinstance(now, np.ndarray) and isinstance(value, np.ndarray) and \
                now.shape == value.shape and now.dtype == value.dtype:
            now[...] = value
        else:
            setattr(ex, name, value)


# ------------------------------------------------------------------------ the file

def save(path: str, payload: bytes | memoryview, point: JournalPoint, last_fill_seq: int,
         context: str, *, durable: bool) -> int:
    """Write the snapshot atomically (a crash leaves the previous one); returns its size."""
    header = Header(FORMAT, code_digest(), context, point, last_fill_seq,
                     hashlib.blake2b(payload, digest_size=16).hexdigest(), len(payload))
    data = b"".join((msgspec.json.encode(header), b"\n", payload))
    write_atomic(path, data, durable=durable)
    return len(data)


def load(path: str, engine, reader: JournalReader, context: str, fills_last_seq: int) -> \
        Header | None:
    """Load the snapshot into `engine` (freshly built) and place `reader` just past the last record
    it reflects; None (engine and reader untouched) when there is no snapshot.

    Raises
    ------
    SnapshotRefused
        With the reason; `engine` and `reader` are then untouched.
    """
    found = read_checked(path, reader.path, context, fills_last_seq)
    if found is None:
        return None
    header, payload = found
    put(engine, payload)
    p = header.journal
    reader.offset, reader.line_no, reader.last_seq = p.offset, p.line_no, p.seq
    return header


def read_checked(path: str, journal_path: str, context: str, fills_last_seq: int) -> \
        tuple[Header, bytes] | None:
    """The snapshot's header and pickled state once every check passed; None when there is none.

    Raises
    ------
    SnapshotRefused
        With the reason.
    """
    raw = read_snapshot(path, SnapshotRefused)
    if raw is None:
        return None
    cut = raw.find(b"\n")
    try:
        header = _header_decoder.decode(raw[:cut] if cut >= 0 else raw)
    except msgspec.DecodeError as e:
        raise SnapshotRefused(f"unreadable header: {e}") from None
    if header.format != FORMAT:
        raise SnapshotRefused(f"format {header.format!r}, this OTrade reads {FORMAT!r}", "format")
    if header.code != code_digest():
        raise SnapshotRefused("written by another code version", "code_version")
    if header.context != context:
        raise SnapshotRefused("written under another configuration or instrument table",
                              "configuration")
    try:
        check(header.journal, journal_path)
    except JournalMismatch as e:
        kind = "ahead_of_journal" if str(e).startswith("ahead") else "another_journal"
        raise SnapshotRefused(str(e), kind) from None
    if header.last_fill_seq > fills_last_seq:
        raise SnapshotRefused(f"fills.jsonl ends at seq {fills_last_seq}, before the fill at seq "
                              f"{header.last_fill_seq} the snapshot reflects", "fills_behind")
    payload = raw[cut + 1:]
    if len(payload) != header.payload_bytes or \
            hashlib.blake2b(payload, digest_size=16).hexdigest() != header.payload:
        raise SnapshotRefused("corrupt: its state does not match its digest", "corrupt")
    return header, payload
