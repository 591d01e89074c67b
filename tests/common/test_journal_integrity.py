"""Damaged journals: a bad record anywhere but a torn tail refuses recovery, naming file and line.

A journal is what a restarted orders or positions stage rebuilds itself from, so a record that is
not exactly what was written must stop the restart, not change the rebuilt position.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.codec import encode_json
from common.journal import JournalReader, JournalWriter
from common.journalline import JournalCorrupt, problem, seal
from common.messages import OrderFilled


def fill(seq: int, qty: int = 1) -> OrderFilled:
    return OrderFilled(
        seq=seq,
        ts_event_ns=seq,
        client_order_id=f"E{seq:019d}",
        broker_order_id=f"B{seq}",
        fill_id=f"F{seq}",
        strategy="mac",
        bracket_id=f"b{seq}",
        role="ENTRY",
        instrument=1,
        symbol="INFY",
        side=1,
        qty=qty,
        price=1500.5,
        fees_inr=0.1,
        tick_seq=seq,
        leaves_qty=0,
    )


def orders_journal(tmp_path, n: int = 5):
    path = tmp_path / "orders.jsonl"
    with JournalWriter(str(path), "never") as writer:
        for seq in range(1, n + 1):
            writer.append(fill(seq))
    return path


def rewrite_line(path, line_no: int, change) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[line_no - 1] = change(lines[line_no - 1])
    path.write_bytes(b"\n".join(lines))


def recover(path) -> list:
    with JournalReader(str(path)) as reader:
        return list(reader.read_from(1))


def refusal(path) -> JournalCorrupt:
    with pytest.raises(JournalCorrupt) as info:
        recover(path)
    return info.value


def test_recovery_when_qty_1_becomes_7_in_the_middle_then_refused_naming_file_and_line(tmp_path):
    path = orders_journal(tmp_path)
    rewrite_line(path, 3, lambda line: line.replace(b'"qty":1,', b'"qty":7,'))
    assert json.loads(path.read_bytes().split(b"\n")[2])["qty"] == 7   # still valid JSON
    error = refusal(path)
    assert (error.line_no, error.problem) == (3, "checksum mismatch")
    assert str(error).startswith("orders.jsonl line 3: checksum mismatch")
    assert "move it aside" in str(error) and str(path) in str(error)


def test_recovery_when_one_byte_flips_mid_file_then_refused_at_that_line(tmp_path):
    path = orders_journal(tmp_path)
    rewrite_line(path, 2, lambda line: line[:40] + bytes([line[40] ^ 0x01]) + line[41:])
    assert refusal(path).line_no == 2


def test_recovery_when_a_middle_line_is_truncated_then_refused(tmp_path):
    path = orders_journal(tmp_path)
    rewrite_line(path, 2, lambda line: line[:len(line) // 2])     # cut short, the next line follows
    error = refusal(path)
    assert error.line_no == 2 and "cut short" in error.problem


def test_reopen_when_the_last_line_is_torn_then_it_is_cut_and_the_journal_goes_on(tmp_path):
    path = orders_journal(tmp_path)
    data = path.read_bytes()
    # a crash in the middle of record 5
    path.write_bytes(data[:-25])
    assert [m.seq for m in recover(path)] == [1, 2, 3, 4]         # readers wait for the newline
    with JournalWriter(str(path), "never") as writer:
        assert (writer.last_seq, writer.truncated_bytes) == (4, len(data.split(b"\n")[4]) - 24)
        writer.append(fill(5, qty=2))
    assert [(m.seq, m.qty) for m in recover(path)] == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2)]


def test_reopen_when_the_last_complete_line_is_damaged_then_the_writer_refuses_to_append(tmp_path):
    path = orders_journal(tmp_path)
    rewrite_line(path, 5, lambda line: line.replace(b'"qty":1,', b'"qty":9,'))
    with pytest.raises(JournalCorrupt) as info:
        JournalWriter(str(path), "never")
    assert info.value.line_no == 5
    # the refused one released its lock and fd
    JournalWriter(str(tmp_path / "other.jsonl")).close()


def test_recovery_when_the_journal_has_no_checksums_then_refused_as_an_older_format(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b"".join(encode_json(fill(seq)) + b"\n" for seq in (1, 2)))
    error = refusal(path)
    assert error.line_no == 1 and "without a checksum" in error.problem


def test_recovery_when_an_empty_line_sits_between_records_then_refused(tmp_path):
    path = orders_journal(tmp_path, 2)
    rewrite_line(path, 1, lambda line: line + b"\n")
    assert refusal(path).line_no == 2


def test_recovery_when_a_sealed_record_is_of_an_unknown_type_then_refused(tmp_path):
    path = orders_journal(tmp_path, 2)
    rewrite_line(
        path, 2, lambda line: seal(line[:-18].replace(b"OrderFilled", b"OrderFilledV9") + b"}")[:-1]
    )
    error = refusal(path)
    assert error.line_no == 2 and "cannot read" in error.problem


def test_catch_up_when_damage_lies_before_the_catch_up_point_then_still_refused(tmp_path):
    path = orders_journal(tmp_path)
    rewrite_line(path, 1, lambda line: line.replace(b'"side":1', b'"side":2'))
    with JournalReader(str(path)) as reader, pytest.raises(JournalCorrupt) as info:
        list(reader.read_from(4))                     # lines 1-3 are read only for their seq
    assert info.value.line_no == 1


def test_a_sealed_line_is_one_json_object_with_its_checksum_last(tmp_path):
    path = orders_journal(tmp_path, 1)
    line = path.read_bytes().rstrip(b"\n")
    record = json.loads(line)
    assert list(record)[-1] == "crc" and len(record["crc"]) == 8 and record["qty"] == 1
    assert problem(line) == ""


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0), new=st.integers(min_value=0, max_value=255))
def test_recovery_when_any_byte_but_the_final_newline_changes_then_refused(
    tmp_path_factory, position, new
):
    # The final newline is the one byte whose loss looks exactly like a crash mid-write (a torn
    # tail).
    path = orders_journal(tmp_path_factory.mktemp("flip"), 3)
    data = bytearray(path.read_bytes())
    position %= len(data) - 1
    if data[position] == new:
        new ^= 0x20
    data[position] = new
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        recover(path)
