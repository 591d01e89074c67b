"""The outbox: a full ring stops the kernels without losing a tick, acks free only what was sent."""

import msgspec
import numpy as np
import pytest

from common.errors import RingError
from common.messages import SignalRaised
from config.schema import StrategyConfig
from signals.layout import aligned_buffer, outbox_bytes
from signals.outbox import INTENT_DTYPE, ORDER_LIMIT, Outbox, intent_fields
from tests.signals.synthetic import (
    interleaved_ticks,
    make_config,
    make_engine,
    run_batches,
    series_ticks,
)


def _busy_config():
    """fast=1 / slow=2 SMAs on a zig-zag cross on almost every tick: an intent per tick."""
    return make_config(StrategyConfig(name="zig", kind="ma_crossover",
                                params={"fast": 1, "slow": 2, "ma": "sma"}))


def _zigzag(n):
    return series_ticks(100.0 + 0.5 * (np.arange(n) % 2))


def test_a_full_outbox_stops_the_batch_early_and_nothing_is_lost():
    config, rows = _busy_config(), _zigzag(100)
    expected_engine, _ = make_engine(config)
    expected = run_batches(expected_engine, rows, 100)
    assert len(expected) >= 90
    engine, _ = make_engine(config, outbox_capacity=8)
    done = 0
    while True:                                    # a stage that stopped draining
        consumed, _ = engine.process(rows[done:])
        if consumed == 0:
            break
        done += consumed
    assert 0 < done < len(rows) and engine.outbox.free == 0
    assert run_batches(engine, rows[done:], 100) == expected  # drain, then carry on: nothing lost
    assert engine.stats()["zig"]["outbox_full"] == 0    # the engine never let a kernel hit the wall


def test_a_kernel_that_meets_a_full_outbox_returns_the_ticks_it_consumed_and_commits_no_more():
    config, rows = _busy_config(), _zigzag(40)
    engine, _ = make_engine(config, outbox_capacity=4)
    run = engine.runs[0]
    # the kernel itself, past the engine's cap
    consumed = run(rows, engine.tick_size, engine.outbox)
    assert engine.outbox.pending_count == 4
    assert run.stats[2] == 1                                 # STAT_OUTBOX_FULL
    assert run.views.last_seq(0) == rows["seq"][consumed - 1]  # the stopped tick is not applied
    pending = engine.pending_intents()
    assert pending["tick_seq"].max() < rows["seq"][consumed]
    engine.ack(len(pending))
    again = run(rows[consumed:], engine.tick_size, engine.outbox)
    assert again > 0 and engine.pending_intents()["tick_seq"][0] == rows["seq"][consumed]


def test_the_outbox_wraps_around_in_order():
    config, rows = _busy_config(), _zigzag(300)
    expected_engine, _ = make_engine(config)
    expected = run_batches(expected_engine, rows, 300)
    engine, _ = make_engine(config, outbox_capacity=16)
    assert run_batches(engine, rows, 5) == expected
    assert engine.outbox.write_count > 16 * 10


def test_acknowledging_more_than_is_pending_is_refused():
    engine, _ = make_engine(_busy_config())
    engine.process(_zigzag(10))
    pending = engine.pending_intents()
    with pytest.raises(ValueError, match="pending"):
        engine.ack(len(pending) + 1)
    engine.ack(len(pending))
    assert engine.outbox.pending_count == 0


def test_a_partial_ack_that_would_free_an_unsent_intent_is_refused():
    config = make_config(
        StrategyConfig(name="a", kind="ma_crossover", params={"fast": 1, "slow": 2, "ma": "sma"}),
        StrategyConfig(name="b", kind="ma_crossover", params={"fast": 1, "slow": 2, "ma": "ema"}))
    engine, _ = make_engine(config)
    engine.process(_zigzag(10))
    # a's rows then b's in the ring; interleaved by tick here
    pending = engine.pending_intents()
    assert pending["strategy"][:2].tolist() == [0, 1]
    with pytest.raises(ValueError, match="oldest"):
        engine.ack(2)
    engine.ack(len(pending))


def test_intent_fields_make_a_valid_signal_raised_message():
    config = make_config(StrategyConfig(name="mac", kind="ma_crossover",
                                  params={"fast": 3, "slow": 9, "order_type": "LIMIT"}))
    engine, _ = make_engine(config)
    engine.process(interleaved_ticks(3000, 4, seed=2))
    pending = engine.pending_intents()
    assert len(pending) > 10
    for row in pending:
        fields = engine.intent_fields(row)
        message = SignalRaised(source="signals", **fields)
        decoded = msgspec.json.decode(msgspec.json.encode(message), type=SignalRaised)
        assert decoded == message
        assert fields["intent_id"] == f"mac:{fields['instrument']}:{fields['tick_seq']}"
        assert fields["symbol"] == config.instruments[fields["instrument"]].symbol
        assert fields["order_type"] == "LIMIT" and fields["limit_price"] > 0
        assert fields["reason"] in ("fast crossed above slow", "fast crossed below slow")


def test_intent_fields_take_each_field_from_its_own_column():
    """intent_fields unpacks the row positionally: a reordered INTENT_DTYPE must not swap
    fields."""
    row = np.zeros(1, INTENT_DTYPE)[0]
    values = {"tick_seq": 1042, "ts_event_ns": 7_000_000_001, "ts_recv_ns": 9_000_000_003,
              "ref_price": 99.5, "limit_price": 101.25, "stop_loss": 97.75, "target": 104.5,
              "qty": 37, "strategy": 1, "instrument": 2, "reason": 5, "side": -1,
              "order_type": ORDER_LIMIT}
    assert set(values) == set(INTENT_DTYPE.names)
    for name, value in values.items():
        row[name] = value
    fields = intent_fields(row, ["a", "mac"], ["X", "Y", "INFY"], [{}, {5: "five"}])
    assert fields == {
        "intent_id": "mac:2:1042", "strategy": "mac", "instrument": 2, "symbol": "INFY",
        "side": -1, "qty": 37, "order_type": "LIMIT", "limit_price": 101.25,
        "stop_loss": 97.75, "target": 104.5, "tick_seq": 1042, "ts_event_ns": 7_000_000_001,
        "ts_recv_ns": 9_000_000_003, "reason": "five",
    }
    assert all(type(v) in (int, float, str) for v in fields.values())


def test_an_outbox_of_another_capacity_or_row_layout_is_refused():
    buf = aligned_buffer(outbox_bytes(64))
    Outbox(buf, 64)
    with pytest.raises(RingError, match="capacity"):
        Outbox(buf, 32)
    buf.view(np.int64)[2] ^= 1                  # the INTENT_DTYPE fingerprint of another build
    with pytest.raises(RingError, match="fingerprint"):
        Outbox(buf, 64)


def test_an_outbox_smaller_than_its_capacity_needs_is_refused():
    with pytest.raises(RingError, match="needs"):
        Outbox(aligned_buffer(outbox_bytes(64) - 1), 64)
    with pytest.raises(RingError, match="power of two"):
        Outbox(aligned_buffer(outbox_bytes(64)), 48)


def test_outbox_bytes_fit_the_rows_exactly():
    assert outbox_bytes(64) == 192 + 64 * INTENT_DTYPE.itemsize
