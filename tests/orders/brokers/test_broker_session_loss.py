"""The broker refuses our session (a dead token) while brackets are open.

Nothing more is sent by that process (each call would fail the same way), trading is HALTED with the
reason, and a stop leg refused for the token is not mistaken for a stop the exchange refused: the
process that starts with a working session places the same kind of stop again, never a MARKET exit.
"""

from common.errors import BrokerFatal
from common.messages import OrderRejected, OrderSubmitting, TradingStateChanged
from tests.orders.stubs import FlakyBroker, Tape, intent, of_type


def _legs(events, role):
    return [m for m in of_type(events, OrderSubmitting) if m.role == role]


def test_a_dead_token_holds_every_action_and_a_new_session_places_the_stop_again(make_desk):
    # Place 1 is the entry; the stop leg (place 2) meets the dead token.
    desk = make_desk(
        wrap=lambda b: FlakyBroker(b, {2: ("before", BrokerFatal("TokenException: log in again"))})
    )
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=98.0, target=103.0)])
    desk.run(tape, start_seq=tape.prices(0, [100.1]))        # the entry fills: legs are planned
    (refused,) = of_type(desk.events, OrderRejected)
    assert refused.code == "FATAL" and _legs(desk.events, "STOP")[0].order_type == "SL-M"
    halts = [m for m in of_type(desk.events, TradingStateChanged) if m.state == "HALTED"]
    assert len(halts) == 1 and "TokenException" in halts[0].reason
    assert desk.engine.broker_down

    sent = desk.broker.places
    desk.run(tape, start_seq=tape.prices(0, [100.2, 100.3, 100.4]))
    # held: nothing more reaches the broker
    assert desk.broker.places == sent
    assert desk.engine.stats["held_actions"] > 0

    desk.restart(list(desk.events), wrap=None)                # a new process, a working session
    desk.run(tape, start_seq=tape.prices(0, [100.5]))
    stops = _legs(desk.events, "STOP")
    assert [s.order_type for s in stops] == ["SL-M", "SL-M"]  # the stop again, not a MARKET exit
    assert stops[1].trigger_price == 98.0
    assert desk.engine.trading_state == "HALTED"              # resuming is the operator's call
    assert not desk.engine.broker_down


def test_a_fatal_poll_halts_once_and_holds(make_desk):
    desk = make_desk()
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=98.0, target=103.0)])

    def dead():
        raise BrokerFatal("TokenException: session expired")
    desk.broker.poll_events = dead
    for _ in range(3):
        desk.engine.poll_broker()
    halts = [m for m in of_type(desk.events, TradingStateChanged) if m.state == "HALTED"]
    assert len(halts) == 1 and "session expired" in halts[0].reason
    assert desk.engine.broker_down


class _CancelRefused:
    """The paper broker, but the next `n` cancels fail as a throttled or 5xx request does."""

    def __init__(self, inner, n):
        self.inner, self.left, self.cancels = inner, n, 0

    def cancel(self, broker_order_id):
        from common.errors import BrokerRetryable
        self.cancels += 1
        if self.left > 0:
            self.left -= 1
            raise BrokerRetryable("429 Too Many Requests")
        return self.inner.cancel(broker_order_id)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_cancel_the_broker_cannot_take_is_retried_after_a_backoff_not_on_every_tick(make_desk):
    from common.messages import OrderCanceled, OrderFilled
    from orders.gateway import ACTION_RETRY_NS

    desk = make_desk(wrap=lambda b: _CancelRefused(b, n=5))
    tape = Tape(step_ms=10)                                  # 100 ticks a second of market time
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=98.0, target=103.0)])
    start = tape.seq + 1
    # target fills: the stop must be canceled (OCO)
    tape.prices(0, [100.5, 103.0] + [101.0] * 200)
    desk.run(tape, start_seq=start)
    (canceled,) = of_type(desk.events, OrderCanceled)
    assert canceled.client_order_id == _legs(desk.events, "STOP")[0].client_order_id
    # 5 refused, then taken: not one try a tick
    assert desk.broker.cancels == 6
    (target_fill,) = [m for m in of_type(desk.events, OrderFilled) if m.role == "TARGET"]
    waited = canceled.ts_event_ns - target_fill.ts_event_ns
    # Each retry waits out the backoff (market time), and is not left waiting for some other event.
    assert 5 * ACTION_RETRY_NS <= waited <= 5 * ACTION_RETRY_NS + 5 * 10_000_000
    assert desk.engine.stats["broker_errors"] == 5
