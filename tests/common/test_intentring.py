"""The intent ring (common/intentring.py): signals' writer, orders' reader, in one process.

Wraparound, a torn slot, the reader's cursor in shared memory, the doorbell handshake, a full ring
(backpressure, never a drop), a signals restart between its journal and the ring, and the record
codec (what orders rebuilds is what signals journaled).
"""

import numpy as np
import pytest

from common import intentring
from common.errors import RingError
from common.ids import intent_id
from common.messages import SignalRaised
from tests.support import unique_segment


def intent(seq: int, tick_seq: int | None = None, **over) -> SignalRaised:
    tick = seq * 3 if tick_seq is None else tick_seq
    fields = dict(
        source="signals",
        seq=seq,
        ts_event_ns=1_700_000_000_000_000_000 + tick,
        ts_init_ns=42 + seq,
        intent_id=intent_id("mac", seq % 5, tick),
        strategy="mac",
        instrument=seq % 5,
        symbol=f"SYM{seq % 5}",
        side=1 if seq % 2 else -1,
        qty=seq,
        order_type="MARKET",
        stop_loss=99.5,
        target=101.25,
        tick_seq=tick,
        ts_recv_ns=1000 + tick,
        reason="fast crossed above slow",
    )
    return SignalRaised(**{**fields, **over})


@pytest.fixture
def ring():
    made = []

    def make(capacity=8):
        made.append(intentring.create(unique_segment("intents"), capacity))
        return made[-1]

    yield make
    for r in made:
        r.close()
        r.unlink()


def _pair(ring_):
    return intentring.IntentWriter(ring_), intentring.IntentReader(ring_)


def _take(reader, upto=1 << 40) -> list[SignalRaised]:
    reader.watermark()
    out = [intentring.to_message(row) for row in reader.read()]
    reader.commit(upto)
    return out


def test_record_when_round_tripped_then_is_the_journaled_intent_field_for_field():
    msgs = [
        intent(7),
        intent(8, order_type="LIMIT", limit_price=1480.35, stop_loss=0.0, target=0.0),
    ]
    rows = np.zeros(2, intentring.INTENT_RECORD_DTYPE)
    for i, msg in enumerate(msgs):
        rows[i] = intentring.record_values(msg)
    assert intentring.to_messages(rows) == msgs
    assert intentring.to_message(rows[1]) == msgs[1]


def test_ring_when_written_past_its_capacity_many_times_then_reads_every_intent_once_in_order(ring):
    writer, reader = _pair(ring(capacity=8))
    got = []
    for first in range(1, 101, 5):
        assert writer.publish([intent(s) for s in range(first, first + 5)])
        got += _take(reader)
    assert [m.seq for m in got] == list(range(1, 101))
    assert got[-1] == intent(100) and reader.lost == 0


def test_full_ring_when_orders_is_behind_then_the_writer_keeps_a_backlog_and_drops_nothing(ring):
    writer, reader = _pair(ring(capacity=4))
    assert not writer.publish([intent(s) for s in range(1, 11)])
    assert len(writer.backlog) == 6 and writer.ring.published == 4
    assert not writer.flush()                           # no room until orders commits
    got = _take(reader)
    while not writer.flush():
        got += _take(reader)
    got += _take(reader)
    assert [m.seq for m in got] == list(range(1, 11)) and not writer.backlog


def test_reader_cursor_when_orders_restarts_then_resumes_at_the_first_intent_whose_tick_was_not_applied(  # noqa: E501 - the name is the test's sentence
    ring,
):
    r = ring(capacity=16)
    writer, reader = _pair(r)
    writer.publish([intent(s, tick_seq=10 * s) for s in range(1, 9)])
    reader.watermark()
    assert len(reader.read()) == 8
    # ticks below 41 applied: intents 1..4 handled
    assert reader.commit(applied_upto=41) == 5
    reader.close()                                      # killed: the next life attaches by name
    again = intentring.IntentReader(r)
    assert [m.seq for m in _take(again)] == [5, 6, 7, 8]


def test_torn_slot_when_its_stamp_does_not_match_then_it_is_never_returned_and_counted_lost(ring):
    r = ring(capacity=8)
    writer, reader = _pair(r)
    writer.publish([intent(s) for s in range(1, 4)])
    r.stamps[2] = -1                                    # seq 2 caught mid-rewrite
    r.slots[2]["qty"] = -999
    got = _take(reader)
    assert [m.seq for m in got] == [1, 3] and reader.lost == 1


def test_writer_killed_mid_record_when_it_restarts_then_the_record_is_written_whole(ring):
    r = ring(capacity=8)
    writer, reader = _pair(r)
    writer.publish([intent(1)])
    r.stamps[2] = -1                                    # the dead writer's half-written seq 2:
    r.slots[2]["qty"] = -999                            # beyond `published`, so invisible
    assert _take(reader) == [intent(1)]
    writer.close()
    again = intentring.IntentWriter(r)
    assert again.publish([intent(2)]) and _take(reader) == [intent(2)]


def test_signals_killed_between_journal_and_ring_when_it_restarts_then_republishes_the_journal_tail(
    ring,
):
    r = ring(capacity=8)
    journal = [intent(s) for s in range(1, 6)]
    writer = intentring.IntentWriter(r)
    # a fresh ring, an empty journal
    assert writer.resume(0, lambda first: journal[first - 1:]) == 0
    # 4 and 5 journaled, then killed
    writer.publish(journal[:3])
    writer.close()
    again = intentring.IntentWriter(r)
    assert again.resume(5, lambda first: journal[first - 1:]) == 2
    assert [m.seq for m in again.backlog] == [4, 5]


def test_fresh_ring_when_the_journal_already_has_intents_then_only_new_ones_are_published(ring):
    r = ring(capacity=8)
    # a new run on an account day whose journal holds 1..7
    writer = intentring.IntentWriter(r)
    assert writer.resume(7, lambda first: pytest.fail("nothing to read back")) == 0
    assert writer.published_journal_seq(7) == 7
    writer.publish([intent(8)])
    writer.close()
    assert (
        intentring.IntentWriter(r).resume(9, lambda first: [intent(9)] if first == 9 else []) == 1
    )


def test_doorbell_when_orders_sleeps_then_a_publish_or_a_forced_watermark_wakes_it(ring):
    writer, reader = _pair(ring(capacity=8))
    assert reader.begin_sleep()
    writer.publish([intent(1)])
    assert reader.doorbell.wait(1.0)
    reader.end_sleep()
    _take(reader)
    assert reader.begin_sleep()
    writer.advance(5, now_ns=10, force=True, every_ns=1_000_000)
    assert reader.doorbell.wait(1.0)
    reader.end_sleep()


def test_doorbell_when_orders_is_awake_then_nothing_is_rung(ring):
    writer, reader = _pair(ring(capacity=8))
    writer.publish([intent(1)])
    writer.advance(5, now_ns=10, force=True, every_ns=1_000_000)
    assert reader.doorbell.clear() == 0


def test_sleep_when_the_watermark_moved_since_orders_looked_then_it_does_not_block(ring):
    writer, reader = _pair(ring(capacity=8))
    assert reader.watermark() == 0
    writer.advance(7, now_ns=10, force=False, every_ns=1_000_000)
    assert reader.available() and not reader.begin_sleep()
    assert reader.watermark() == 7 and reader.begin_sleep()
    reader.end_sleep()


def test_plain_watermark_when_orders_sleeps_then_wakes_it_at_most_every_interval(ring):
    writer, reader = _pair(ring(capacity=8))
    assert reader.begin_sleep()
    writer.advance(3, now_ns=1_000_000, force=False, every_ns=1_000_000)
    assert reader.doorbell.clear() == 1
    writer.advance(4, now_ns=1_500_000, force=False, every_ns=1_000_000)    # stored, not rung
    assert reader.doorbell.clear() == 0 and writer.watermark == 4
    writer.advance(4, now_ns=2_000_000, force=False, every_ns=1_000_000)    # rung once due
    assert reader.doorbell.clear() == 1
    reader.end_sleep()


def test_watermark_when_asked_to_go_back_then_stays(ring):
    writer, _ = _pair(ring(capacity=8))
    writer.advance(9, now_ns=0, force=True, every_ns=1)
    assert writer.advance(4, now_ns=5, force=True, every_ns=1) == 9


def test_texts_when_a_reason_is_longer_than_a_record_holds_then_start_is_refused():
    with pytest.raises(RingError, match="reason"):
        intentring.check_texts(["mac"], [{1: "x" * 65}], ["INFY"])
    intentring.check_texts(["mac"], [{1: "x" * 64}], ["INFY"])
