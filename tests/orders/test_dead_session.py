"""A refused session means no broker calls: after a FATAL error, not one placement, lookup or poll
but a single probe every probe interval, until a call goes through again (issue: 70 GET /orders in
8.5 s with a refused token, one in-doubt lookup per order)."""

import pytest

from common.errors import BrokerFatal, BrokerRetryable
from common.messages import OrderInDoubt, OrderSubmitting, TradingStateChanged
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.stubs import FlakyBroker, Tape, intent, of_type

S = 1_000_000_000
CALLS = ("place", "modify", "cancel", "poll_events", "find_by_client_id", "find_by_client_ids",
         "trades", "orders", "positions")


class SessionBroker:
    """Wraps a real broker; while `dead`, every call raises BrokerFatal. Counts every call."""

    def __init__(self, inner):
        self.inner, self.dead, self.calls = inner, False, []
        self.capabilities = inner.capabilities

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name not in CALLS:
            return attr

        def call(*args, **kwargs):
            self.calls.append(name)
            if self.dead:
                raise BrokerFatal("TokenException: Incorrect `api_key` or `access_token`.")
            return attr(*args, **kwargs)
        return call


class Wall:
    def __init__(self):
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def engine_on(desk, broker, wall) -> OrderEngine:
    desk.broker = broker
    desk.engine = OrderEngine(
        desk.rows,
        desk.limits,
        FeeSchedule("zerodha"),
        broker,
        desk.events.append,
        probe_interval_s=10.0,
        wall_ns=wall,
    )
    return desk.engine


def test_a_refused_session_makes_no_call_but_one_probe_every_interval(make_desk):
    desk, tape, wall = make_desk(), Tape(), Wall()
    broker = SessionBroker(desk.paper)
    engine = engine_on(desk, broker, wall)
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=98.0, target=103.0)])
    broker.dead = True
    desk.run(tape, start_seq=tape.add(0, 100.1))         # entry fills; its legs meet the dead token
    assert engine.broker_down
    before = len(broker.calls)
    for k in range(90):                                  # 9 s of wall clock, ticks and polls
        wall.ns = k * S // 10
        desk.run(tape, start_seq=tape.add(0, 100.2))
        engine.poll_broker()
    assert broker.calls[before:] == []
    wall.ns = 10 * S + 1
    engine.poll_broker()
    engine.poll_broker()
    assert broker.calls[before:] == ["poll_events"]      # the probe, once
    assert engine.stats["probes"] == 1


def test_when_a_probe_goes_through_calls_resume_but_trading_stays_halted(make_desk):
    desk, tape, wall = make_desk(), Tape(), Wall()
    broker = SessionBroker(desk.paper)
    engine = engine_on(desk, broker, wall)
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=98.0, target=103.0)])
    broker.dead = True
    desk.run(tape, start_seq=tape.add(0, 100.1))
    broker.dead = False                                   # the operator logged in again
    wall.ns = 10 * S + 1
    engine.poll_broker()
    assert not engine.broker_down
    legs = [m.role for m in of_type(desk.events, OrderSubmitting) if m.role != "ENTRY"]
    assert "STOP" in legs and "TARGET" in legs           # the held legs go out
    assert engine.trading_state == "HALTED"               # resuming is the operator's call
    assert [m.state for m in of_type(desk.events, TradingStateChanged)] == ["HALTED"]


def test_recovery_with_a_refused_session_stops_at_the_first_refusal(make_desk):
    timeouts = {n: ("before", BrokerRetryable("timeout")) for n in range(1, 11)}
    desk, tape, wall = make_desk(wrap=lambda paper: FlakyBroker(paper, timeouts)), Tape(), Wall()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=1, strategy=f"s{i}") for i in range(10)])
    # The process died after journaling each "about to send", before any answer: ten entries
    # whose outcome the restart must ask for at once (an entry journaled IN_DOUBT waits for its
    # retry's tick instead: orders/engine.py resolve_in_doubt).
    journal = [m for m in desk.events if not isinstance(m, OrderInDoubt)]
    desk.paper.close()                                    # the process dies; the token expires
    desk.paper = desk._open_broker()
    broker = SessionBroker(desk.paper)
    broker.dead = True
    engine = engine_on(desk, broker, wall)
    engine.restore(journal)
    with pytest.raises(BrokerFatal):
        engine.resolve_in_doubt()
    assert broker.calls == ["find_by_client_ids"]         # one call, not one per order
