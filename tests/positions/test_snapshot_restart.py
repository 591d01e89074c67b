"""positions restarts from its book snapshot plus the orders journal's tail (issue 14.4).

The stage's own restore / catch_up / save_book run here over a real journal on disk; only the
ring, the sockets and the instrument segment (which these paths do not touch) are left out.
"""

from __future__ import annotations

import os
import tempfile
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import common.journal as journal_module
from common import rundir
from common.journal import JournalReader, JournalWriter
from common.log import get_logger
from common.messages import OrderAccepted, OrderFilled
from common.stage import StageRuntime
from positions import snapshot as book_snapshot
from positions.positionbook import PositionBook
from positions.stage import PositionsStage

SYMBOLS = ["SBIN", "INFY", "TCS"]


class _Runtime:
    def __init__(self):
        self.counts: dict[str, int] = {}

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def _stage(state_dir: str) -> PositionsStage:
    """A PositionsStage with just what its journal/book paths use (as __init__ sets them)."""
    stage = PositionsStage.__new__(PositionsStage)
    stage.rt, stage.log = cast(StageRuntime, _Runtime()), get_logger("positions")
    stage.book = PositionBook(SYMBOLS)
    stage.journal = JournalReader(os.path.join(state_dir, rundir.ORDERS_JOURNAL))
    stage.last_orders_seq, stage._saved_seq, stage.started_from = 0, -1, "journal"
    stage.snapshot_path = os.path.join(state_dir, book_snapshot.SNAPSHOT_FILE)
    stage.durable, stage._dirty = False, False
    return stage


def _counts(stage: PositionsStage) -> dict[str, int]:
    return cast(_Runtime, stage.rt).counts


def _start(state_dir: str) -> PositionsStage:
    """What start() does for the book: restore, then catch up from the journal."""
    stage = _stage(state_dir)
    stage.restore()
    stage.catch_up()
    return stage


def _filled(seq, fill_id, instrument, side, qty, price, fees):
    return OrderFilled(
        ts_event_ns=0, seq=seq, source="orders", client_order_id=f"E{seq}",
        broker_order_id=f"B{seq}", fill_id=fill_id, strategy="mac", bracket_id="b",
        role="ENTRY", instrument=instrument, symbol=SYMBOLS[instrument], side=side, qty=qty,
        price=price, fees_inr=fees, tick_seq=seq, leaves_qty=0,
    )


def _records(specs, first_seq=1, id_prefix="f"):
    """Journal records from (kind, instrument, side, qty, price_paise, fees_paise, dup_of) specs:
    kind 0 a fill, 1 a non-fill record; dup_of >= 0 repeats that earlier fill's id."""
    out, ids = [], []
    for i, (kind, inst, side, qty, paise, fees, dup_of) in enumerate(specs):
        seq = first_seq + i
        if kind == 1:
            out.append(OrderAccepted(ts_event_ns=0, seq=seq, source="orders",
                                     client_order_id=f"E{seq}", broker_order_id=f"B{seq}",
                                     status="OPEN"))
            continue
        fill_id = ids[dup_of % len(ids)] if dup_of >= 0 and ids else f"{id_prefix}{seq}"
        ids.append(fill_id)
        out.append(_filled(seq, fill_id, inst, side, qty, paise / 100, fees / 100))
    return out


def _append(state_dir, records):
    with JournalWriter(os.path.join(state_dir, rundir.ORDERS_JOURNAL), fsync="never") as w:
        for msg in records:
            w.append(msg)


def _run_then_snapshot(state_dir, records):
    """A stage that saw `records` and wrote its snapshot, then died."""
    _append(state_dir, records)
    stage = _start(state_dir)
    stage.save_book()
    stage.journal.close()
    assert os.path.exists(stage.snapshot_path)


def _same_book(a: PositionsStage, b: PositionsStage) -> None:
    assert a.book.state() == b.book.state()
    assert a.book.as_dict() == b.book.as_dict()
    assert a.last_orders_seq == b.last_orders_seq


@pytest.fixture
def decoded(monkeypatch):
    """How many journal records were fully decoded ("n") and how many lines were read at all
    ("lines": every line read is seal-checked, even one skipped by its seq)."""
    calls = {"n": 0, "lines": 0}
    real_decode, real_problem = journal_module.decode_json, journal_module.problem

    def decoding(line):
        calls["n"] += 1
        return real_decode(line)

    def checking(line):
        calls["lines"] += 1
        return real_problem(line)

    monkeypatch.setattr(journal_module, "decode_json", decoding)
    monkeypatch.setattr(journal_module, "problem", checking)
    return calls


_spec = st.tuples(
    st.sampled_from([0, 0, 0, 1]),              # mostly fills
    st.integers(0, len(SYMBOLS) - 1),
    st.sampled_from([1, -1]),
    st.integers(1, 60),                         # partial fills, adds, reductions and flips
    st.integers(9_000, 11_000),
    st.integers(0, 500),
    st.sampled_from([-1] * 9 + [0, 3]),         # now and then a fill id seen before
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(_spec, min_size=1, max_size=60), cut=st.floats(0, 1))
def test_restart_when_from_snapshot_plus_tail_then_same_book_as_full_reread(specs, cut):
    records = _records(specs)
    k = int(cut * len(records))
    with tempfile.TemporaryDirectory() as state_dir:
        _run_then_snapshot(state_dir, records[:k])
        _append(state_dir, records[k:])
        restarted = _start(state_dir)
        assert restarted.started_from == "snapshot"
        full = _stage(state_dir)
        full.catch_up()
        _same_book(restarted, full)
        restarted.journal.close()
        full.journal.close()


def test_restart_when_snapshot_is_good_then_only_the_tail_is_decoded(tmp_path, decoded):
    records = _records([(0, i % 3, 1 if i % 4 else -1, 5, 10_000 + i, 10, -1) for i in range(200)])
    _run_then_snapshot(str(tmp_path), records[:150])
    _append(str(tmp_path), records[150:])
    decoded["n"] = decoded["lines"] = 0
    stage = _start(str(tmp_path))
    assert decoded["n"] == 50 and decoded["lines"] == 50    # the tail, not a scan from line 1
    assert stage.last_orders_seq == 200 and len(stage.book.seen_fills) == 200


def test_restart_when_tail_repeats_a_fill_id_from_before_the_snapshot_then_it_is_a_duplicate(
        tmp_path):
    _run_then_snapshot(str(tmp_path), _records([(0, 0, 1, 10, 10_000, 0, -1)]))
    _append(str(tmp_path), [_filled(2, "f1", 0, 1, 10, 100.0, 0.0)])
    stage = _start(str(tmp_path))
    assert stage.book.positions[0].qty == 10 and stage.book.duplicates == 1
    assert _counts(stage)["duplicate_fills"] == 1


def _damage(state_dir):
    with open(os.path.join(state_dir, book_snapshot.SNAPSHOT_FILE), "r+b") as f:
        f.truncate(40)


def _replace_after_first(state_dir):
    """The day journal rewritten: same first record, different ones after it (and longer)."""
    path = os.path.join(state_dir, rundir.ORDERS_JOURNAL)
    with open(path, "rb") as f:
        first = f.readline()
    os.unlink(path)
    with open(path, "wb") as f:
        f.write(first)
    _append(state_dir, _records([(0, 1, -1, 7, 20_000, 5, -1)] * 300, first_seq=2, id_prefix="g"))


def _replace_entirely(state_dir):
    os.unlink(os.path.join(state_dir, rundir.ORDERS_JOURNAL))
    _append(state_dir, _records([(0, 2, 1, 3, 30_000, 5, -1)] * 300, id_prefix="h"))


def _shorter(state_dir):
    """The journal holds less than the snapshot reflects (an older copy put back)."""
    path = os.path.join(state_dir, rundir.ORDERS_JOURNAL)
    with open(path, "rb") as f:
        lines = f.readlines()
    with open(path, "wb") as f:
        f.writelines(lines[:20])


@pytest.mark.parametrize("spoil, reason", [
    (_damage, "unreadable"),
    (_replace_after_first, "from another journal"),
    (_replace_entirely, "from another journal"),
    (_shorter, "ahead of the journal"),
])
def test_restart_when_snapshot_cannot_be_trusted_then_refused_and_whole_journal_reread(
        tmp_path, decoded, spoil, reason, monkeypatch):
    state = str(tmp_path)
    _run_then_snapshot(state, _records([(0, 0, 1, 5, 10_000 + i, 10, -1) for i in range(40)]))
    spoil(state)
    warnings = []
    monkeypatch.setattr(PositionsStage, "restore", _capturing(PositionsStage.restore, warnings))
    decoded["n"] = 0
    stage = _start(state)
    assert stage.started_from.startswith("journal (snapshot refused: " + reason)
    assert warnings[0].startswith(reason)
    assert _counts(stage) == {"fills": decoded["n"]}     # every record decoded again
    full = _stage(state)
    full.catch_up()
    _same_book(stage, full)


def _capturing(restore, warnings):
    def wrapped(self):
        log = self.log

        class _Log:
            def warning(self, event, **kw):
                warnings.append(kw["reason"])
                log.warning(event, **kw)
        self.log = _Log()
        try:
            restore(self)
        finally:
            self.log = log
    return wrapped


def test_save_when_the_socket_is_ahead_of_the_journal_then_no_snapshot_claims_it(tmp_path):
    state = str(tmp_path)
    _append(state, _records([(0, 0, 1, 5, 10_000, 0, -1)]))
    stage = _start(state)
    stage._apply(_filled(2, "f2", 0, 1, 5, 101.0, 0.0))   # published, not yet flushed by orders
    stage.save_book()
    assert not os.path.exists(stage.snapshot_path)
    _append(state, [_filled(2, "f2", 0, 1, 5, 101.0, 0.0)])
    stage.save_book()
    again = _start(state)
    assert again.started_from == "snapshot"
    _same_book(again, stage)
