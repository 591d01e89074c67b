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
    desk = make_desk(wrap=lambda b: FlakyBroker(b, {2: ("before", BrokerFatal("TokenException: log in again"))}))
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
    assert desk.broker.places == sent                         # held: nothing more reaches the broker
    assert desk.engine.stats["held_actions"] > 0

    desk.restart(list(desk.events))                           # a new process, a working session
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
