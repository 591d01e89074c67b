"""The engine's own behaviour around risk, the broker's failures and its inputs."""

import pytest

from common.errors import BrokerFatal, BrokerRetryable
from common.messages import (OrderAccepted, OrderDenied, OrderInDoubt, OrderRejected,
                             OrderSubmitting, TicksProcessed, TradingStateChanged)
from orders.risk import CODES
from tests.orders.risk_support import limits_of
from tests.orders.stubs import FlakyBroker, Tape, intent, ist_ns, of_type


def denial_codes(events):
    return [m.reason_code for m in of_type(events, OrderDenied)]


def test_engine_denies_entry_on_stale_data(make_desk):
    desk, tape = make_desk(), Tape(step_ms=1000)
    tape.add(0, 100.0)
    tape.prices(1, [50.0] * 6)                         # instrument 0 is now 6 s old
    desk.run(tape, [intent(tape.seq, instrument=0)])
    assert denial_codes(desk.events) == [CODES["STALE_DATA"]]
    assert not of_type(desk.events, OrderSubmitting)


def test_engine_denies_entry_for_an_instrument_it_has_never_seen_a_tick_of(make_desk):
    desk, tape = make_desk(), Tape()
    tape.add(1, 50.0)
    desk.run(tape, [intent(1, instrument=0), intent(1, instrument=9)])
    assert denial_codes(desk.events) == [CODES["STALE_DATA"], CODES["UNKNOWN_INSTRUMENT"]]


def test_engine_denies_a_duplicate_intent_within_its_lifetime(make_desk):
    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1), intent(1)])
    assert denial_codes(desk.events) == [CODES["DUPLICATE_INTENT"]]
    assert len(of_type(desk.events, OrderSubmitting)) == 1


def test_engine_silently_drops_an_intent_redelivered_after_a_restart(make_desk):
    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1)])
    desk.restart(list(desk.events))
    tape.add(0, 100.0)
    desk.run(tape, [intent(1)], start_seq=1)
    assert not of_type(desk.events, OrderDenied)
    assert desk.engine.stats["redelivered_intents"] == 1


def test_engine_applies_an_intent_right_after_its_tick_even_if_it_arrived_early(make_desk):
    desk, tape = make_desk(), Tape()
    tape.prices(0, [100.0, 100.0, 100.0])
    desk.engine.advance(tape.array()[:1], [intent(3)])
    assert not of_type(desk.events, OrderSubmitting)
    desk.engine.advance(tape.array(2), [])
    (sub,) = of_type(desk.events, OrderSubmitting)
    assert sub.tick_seq == 3


def test_engine_ignores_ticks_it_has_already_applied(make_desk):
    desk, tape = make_desk(), Tape()
    tape.prices(0, [100.0, 101.0])
    desk.run(tape)
    tape.add(0, 102.0)
    desk.run(tape, start_seq=1)                         # 1 and 2 again, then 3
    assert desk.engine.exposure.tick_seq == 3
    assert desk.engine.exposure.last_price[0] == 102.0


def test_engine_marks_each_handled_tick_once_before_its_events(make_desk):
    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1), intent(1, strategy="brk")])
    kinds = [type(m) for m in desk.events]
    assert kinds[0] is TicksProcessed and kinds.count(TicksProcessed) == 1
    assert desk.events[0].upto_seq == 2


def test_engine_retryable_place_goes_in_doubt_and_is_resent_when_lookup_finds_nothing(make_desk):
    desk = make_desk(wrap=lambda b: FlakyBroker(b, {1: ("before", BrokerRetryable("timeout"))}))
    tape = Tape(step_ms=300)
    tape.add(0, 100.0)
    desk.run(tape, [intent(1)])
    assert [type(m) for m in desk.events[-2:]] == [OrderSubmitting, OrderInDoubt]
    start = tape.seq + 1
    tape.prices(0, [100.0] * 5)
    desk.run(tape, start_seq=start)
    subs = of_type(desk.events, OrderSubmitting)
    assert len(subs) == 2 and subs[0].client_order_id == subs[1].client_order_id
    assert subs[1].ts_event_ns - subs[0].ts_event_ns >= 1_000_000_000
    assert [o.client_order_id for o in desk.paper.orders()] == [subs[0].client_order_id]
    assert desk.engine.book.unresolved() == []


def test_engine_retryable_place_that_reached_the_broker_is_found_not_resent(make_desk):
    desk = make_desk(wrap=lambda b: FlakyBroker(b, {1: ("after", BrokerRetryable("read timeout"))}))
    tape = Tape(step_ms=300)
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, order_type="LIMIT", limit_price=99.0)])
    start = tape.seq + 1
    tape.prices(0, [100.0] * 5)
    desk.run(tape, start_seq=start)
    assert len(of_type(desk.events, OrderSubmitting)) == 1
    (ack,) = of_type(desk.events, OrderAccepted)
    assert ack.broker_order_id == desk.paper.orders()[0].broker_order_id
    assert len(desk.paper.orders()) == 1


def test_engine_broker_fatal_rejects_the_order_and_halts(make_desk):
    desk = make_desk(wrap=lambda b: FlakyBroker(b, {1: ("before", BrokerFatal("token expired"))}))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1)])
    assert of_type(desk.events, OrderRejected)[0].code == "FATAL"
    assert of_type(desk.events, TradingStateChanged)[0].state == "HALTED"


def test_engine_rejects_an_unknown_trading_state(make_desk):
    with pytest.raises(ValueError):
        make_desk().engine.set_trading_state("PAUSED")


def test_engine_square_off_phase_is_judged_on_the_market_clock_not_wall_clock(make_desk):
    desk = make_desk(limits=limits_of())
    tape = Tape(start_ns=ist_ns(15, 11))
    tape.add(0, 100.0)
    desk.run(tape, [intent(1)])
    assert denial_codes(desk.events) == [CODES["AFTER_ENTRY_CUTOFF"]]


def test_engine_warm_up_compiles_every_kernel_without_raising():
    from orders import warm
    assert warm.warm() is True and warm.WARMED


class ReportingBroker(FlakyBroker):
    """Adds scripted order updates / trades to what the real broker reports."""

    def __init__(self, inner):
        super().__init__(inner)
        self.extra = []

    def poll_events(self):
        events, self.extra = self.inner.poll_events() + self.extra, []
        return events


def test_engine_late_reject_from_the_broker_is_applied(make_desk):
    from orders.brokers.base import BrokerOrder
    desk = make_desk(wrap=ReportingBroker)
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, order_type="LIMIT", limit_price=99.0)])
    (ack,) = of_type(desk.events, OrderAccepted)
    desk.broker.extra.append(BrokerOrder(ack.broker_order_id, ack.client_order_id, 0, "SYM0", 1, 10,
                                         "LIMIT", 99.0, 0.0, "REJECTED", 0, 0.0, "RMS: margin"))
    desk.engine.poll_broker()
    (rej,) = of_type(desk.events, OrderRejected)
    assert rej.client_order_id == ack.client_order_id and rej.reason == "RMS: margin"
    assert desk.engine.book.n_working == 0


def test_engine_trade_for_an_order_it_never_placed_is_counted_not_applied(make_desk):
    from orders.brokers.base import BrokerTrade
    desk = make_desk(wrap=ReportingBroker)
    desk.broker.extra.append(BrokerTrade("T1", "X9", "MANUAL", 0, 1, 5, 100.0))
    desk.engine.poll_broker()
    assert desk.engine.stats["unknown_fills"] == 1 and not desk.engine.positions()


def test_engine_restore_rebuilds_book_exposure_throttle_and_trading_state(make_desk):
    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, stop_loss=98.0, target=103.0), intent(1, instrument=1)])
    desk.run(tape, start_seq=tape.prices(0, [100.5, 101.0]) - 1)
    desk.engine.set_trading_state("REDUCING", "test")
    before = desk.engine
    desk.restart(list(desk.events), market=before.market_snapshot())
    after = desk.engine
    assert [(o.client_order_id, o.status, o.filled_qty) for o in after.book.orders.values()] == \
        [(o.client_order_id, o.status, o.filled_qty) for o in before.book.orders.values()]
    assert after.positions() == before.positions()
    assert after.exposure.realised_net == before.exposure.realised_net
    now = before.exposure.clock_ns
    assert after.throttle.counts(now) == before.throttle.counts(now)
    assert (after.trading_state, after.flattening) == ("REDUCING", False)
    assert after.denied == before.denied and set(after.desk.brackets) == set(before.desk.brackets)


def test_engine_an_intent_handled_long_after_its_tick_is_expired_never_sent_late(make_desk):
    """A backlog (a restart behind the market, a stalled stage) must not fire old intents in a
    burst: judged on the market clock, an intent older than max_intent_age_ms is denied."""
    from common.messages import OrderDenied, OrderSubmitting
    from tests.orders.risk_support import limits_of
    from orders.risk import CODES
    from tests.orders.stubs import Tape, intent, of_type
    desk = make_desk(limits=limits_of(enforce_session=False, max_intent_age_ms=2000))
    tape = Tape(step_ms=1000)
    for _ in range(5):
        tape.add(0, 100.0)
    old = intent(1, qty=5, ts_ns=tape.rows[0][1], strategy="old")      # its tick was 4 s ago
    new = intent(5, qty=5, ts_ns=tape.rows[4][1], strategy="new")
    desk.engine.advance(tape.array(5), [])                # the engine is already at tick 5
    desk.engine.advance(tape.array(6)[:0], [old, new])    # both arrive now
    tape.add(0, 100.0)
    desk.run(tape, start_seq=6)
    (denied,) = of_type(desk.events, OrderDenied)
    assert denied.intent_id == old.intent_id and denied.reason_code == CODES["INTENT_EXPIRED"]
    assert [m.intent_id for m in of_type(desk.events, OrderSubmitting)] == [new.intent_id]


def test_engine_advance_clock_moves_market_time_on_without_ticks_and_never_back(make_desk):
    """At a stop the feed has ended but the market goes on: the throttle and retries, paced on
    market time, must go on with it (orders/onstop.py)."""
    from tests.orders.stubs import Tape
    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    desk.run(tape)
    t0 = desk.engine.clock_ns
    desk.engine.advance_clock(t0 + 5_000_000_000)
    assert desk.engine.clock_ns == t0 + 5_000_000_000
    desk.engine.advance_clock(t0)
    assert desk.engine.clock_ns == t0 + 5_000_000_000
