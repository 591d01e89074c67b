"""The account's trading days on disk (supervision/accountday.py), in-process: which day a
start opens, where its ring starts, what settling an earlier day writes, and how a run dir points at
it."""

import datetime as dt
import json
import os

import numpy as np
import pytest

from common.clock import IST_OFFSET_NS
from common.dtypes import TICK_DTYPE
from common.journalline import seal
from common.ringbuffer import RingReader, RingWriter, ShmRing
from supervision.accountday import (
    RunDirConflict,
    journal_state,
    link_run_dir,
    open_account_day,
    settle,
)
from tests.support import unique_segment

KEY = "paper-default"


def _ns(day: str, hhmm: str = "10:00") -> int:
    """Wall-clock ns of an IST time of day."""
    when = dt.datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")
    return int(when.timestamp()) * 10**9 - IST_OFFSET_NS


def _journal(path, records) -> None:
    with open(path, "ab") as f:
        for r in records:
            f.write(seal(json.dumps(r, separators=(",", ":")).encode()))


def _bracket(seq: int, fill: bool = True, close: bool = False) -> list[dict]:
    """An intent on tick `seq`, its entry (filled or working), and optionally its exit."""
    intent = f"mac:0:{seq}"
    out = [
        {"type": "TicksProcessed", "upto_seq": seq},
        {
            "type": "OrderSubmitting",
            "client_order_id": f"E{seq}",
            "intent_id": intent,
            "symbol": "SBIN",
            "role": "ENTRY",
            "side": 1,
            "qty": 2,
            "tick_seq": seq,
        },
    ]
    if fill:
        out.append(
            {
                "type": "OrderFilled",
                "client_order_id": f"E{seq}",
                "symbol": "SBIN",
                "side": 1,
                "qty": 2,
                "leaves_qty": 0,
                "tick_seq": seq + 1,
            }
        )
    if close:
        out.append(
            {
                "type": "OrderFilled",
                "client_order_id": f"S{seq}",
                "symbol": "SBIN",
                "side": -1,
                "qty": 2,
                "leaves_qty": 0,
                "tick_seq": seq + 5,
            }
        )
    return out


def test_open_when_the_account_is_new_then_today_starts_at_tick_1_and_nothing_is_settled(tmp_path):
    day = open_account_day(str(tmp_path), KEY, _ns("2026-12-07"))
    assert (day.day, day.first_tick_seq, day.resumed, day.settled) == ("2026-12-07", 1, False, None)
    assert day.dir == str(tmp_path / KEY / "2026-12-07") and os.path.isdir(day.dir)
    assert oct(os.stat(day.dir).st_mode & 0o777) == "0o700"


def test_open_when_the_day_has_a_journal_then_it_resumes_above_every_sequence_the_journal_names(
    tmp_path,
):
    first = open_account_day(str(tmp_path), KEY, _ns("2026-12-07", "09:20"))
    # The highest sequence is only in an intent id (a denial names no tick_seq): it still counts.
    _journal(os.path.join(first.dir, "orders.jsonl"), _bracket(500) + [
        {"type": "OrderDenied", "intent_id": "mac:3:777", "client_order_id": "E777"}])
    again = open_account_day(str(tmp_path), KEY, _ns("2026-12-07", "14:00"))
    assert (again.dir, again.resumed, again.first_tick_seq) == (first.dir, True, 778)


def test_open_when_the_ist_date_changes_at_midnight_then_a_new_day_starts_and_settles_the_last(
    tmp_path,
):
    before = open_account_day(str(tmp_path), KEY, _ns("2026-12-07", "23:59"))
    _journal(os.path.join(before.dir, "orders.jsonl"), _bracket(40) + _bracket(90, fill=False))
    after = open_account_day(str(tmp_path), KEY, _ns("2026-12-08", "00:00"))
    # above E90 (tick 90)
    assert (after.day, after.resumed, after.first_tick_seq) == ("2026-12-08", False, 91)
    assert after.settled["day"] == "2026-12-07"
    assert after.settled["open_positions"] == {"SBIN": 2}
    assert list(after.settled["working_orders"]) == ["E90"]
    assert json.load(open(os.path.join(before.dir, "settlement.json")))["open_positions"] == {
        "SBIN": 2
    }
    # Settled once: a later start the same day does not settle (or report) it again.
    assert open_account_day(str(tmp_path), KEY, _ns("2026-12-08", "09:00")).settled is None


def test_settle_when_only_the_oldest_of_two_earlier_days_is_unsettled_then_the_latest_is_settled(
    tmp_path,
):
    for day, seq in (("2026-12-03", 10), ("2026-12-04", 20)):
        d = open_account_day(str(tmp_path), KEY, _ns(day))
        _journal(os.path.join(d.dir, "orders.jsonl"), _bracket(seq, close=True))
    today = open_account_day(str(tmp_path), KEY, _ns("2026-12-07"))
    assert today.settled["day"] == "2026-12-04" and today.settled["open_positions"] == {}
    assert today.first_tick_seq == 26


def test_journal_state_when_lines_are_damaged_or_torn_then_they_are_counted_and_the_rest_folded(
    tmp_path,
):
    path = tmp_path / "orders.jsonl"
    _journal(path, _bracket(7))
    with open(path, "ab") as f:
        # bad seal
        f.write(b'{"type":"OrderFilled","symbol":"SBIN","side":1,"qty":900,"crc":"00000000"}\n')
        # torn tail
        f.write(b'{"type":"OrderFilled","symbol":"SBIN"')
    state = journal_state(str(path))
    assert (state.net_qty, state.unreadable_lines, state.high_water) == ({"SBIN": 2}, 1, 8)
    assert settle(str(tmp_path))["unreadable_lines"] == 1
    assert settle(str(tmp_path)) is None                     # written once


def test_link_when_the_run_dir_is_fresh_then_the_day_journals_are_linked_and_account_json_names_the_day(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    day = open_account_day(str(tmp_path / "home"), KEY, _ns("2026-12-07"))
    run = tmp_path / "run"
    run.mkdir()
    link_run_dir(str(run), day, paper=True)
    for name in ("orders.jsonl", "fills.jsonl", "paper_broker.jsonl"):
        assert os.readlink(run / name) == os.path.join(day.dir, name) and os.path.exists(run / name)
    assert json.load(open(run / "account.json"))["dir"] == day.dir
    # again (a restart on this run dir): fine
    link_run_dir(str(run), day, paper=False)
    live = tmp_path / "live"
    live.mkdir()
    link_run_dir(str(live), day, paper=False)
    assert not os.path.lexists(live / "paper_broker.jsonl")    # a live broker keeps no paper book


def test_link_when_the_run_dir_holds_its_own_journal_then_it_is_refused_naming_it(tmp_path):
    day = open_account_day(str(tmp_path / "home"), KEY, _ns("2026-12-07"))
    run = tmp_path / "replay-run"
    run.mkdir()
    (run / "orders.jsonl").write_bytes(b"")
    with pytest.raises(RunDirConflict, match="holds its own orders.jsonl"):
        link_run_dir(str(run), day, paper=True)
    assert not os.path.islink(run / "orders.jsonl")


def test_ring_when_created_at_a_later_first_seq_then_writer_and_readers_number_from_it():
    ring = ShmRing.create(
        unique_segment("acct"),
        8,
        TICK_DTYPE,
        readers=[("signals", True)],
        lossless=True,
        first_seq=1001,
    )
    try:
        writer, reader = RingWriter(ring), RingReader(ring, "signals")
        assert (ring.first_seq, writer.next_seq, writer.written, reader.cursor) == (
            1001,
            1001,
            0,
            1001,
        )
        assert writer.write_batch(np.zeros(5, TICK_DTYPE)) == 5
        out = np.zeros(8, TICK_DTYPE)
        assert reader.read_batch(out) == 5
        assert list(out["seq"][:5]) == [1001, 1002, 1003, 1004, 1005] and writer.written == 5
        reader.commit()
        # lossless: room after the commit
        assert writer.write_batch(np.zeros(8, TICK_DTYPE)) == 8
        writer.close()
        assert RingWriter(ring).written == 13                           # a restarted writer resumes
    finally:
        ring.close()
        ring.unlink()
