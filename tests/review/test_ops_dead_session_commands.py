"""A dead session means no calls (issue 11.6), with an operator acting on it.

README "Reconciliation" / the dead-session rule: after a FATAL broker error no broker call at all
but one probe every probe interval, "until a probe succeeds or the operator acts". These check that
the operator's commands that reach the engine (flatten, resume) and new intents still send nothing
to a refused session inside one probe interval.
"""

from tests.orders.stubs import Tape, intent
from tests.orders.test_dead_session import S, SessionBroker, Wall, engine_on


def _dead_with_an_open_bracket(make_desk):
    desk, tape, wall = make_desk(), Tape(), Wall()
    broker = SessionBroker(desk.paper)
    engine = engine_on(desk, broker, wall)
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=98.0, target=103.0)])
    broker.dead = True
    desk.run(tape, start_seq=tape.add(0, 100.1))         # entry fills; its legs meet the dead token
    assert engine.broker_down
    return desk, tape, wall, broker, engine


def test_dead_session_when_the_operator_flattens_then_no_call_until_the_probe(make_desk):
    desk, tape, wall, broker, engine = _dead_with_an_open_bracket(make_desk)
    before = len(broker.calls)
    wall.ns = 1 * S
    engine.flatten_all("operator: ctl flatten")
    for k in range(10, 90):
        wall.ns = k * S // 10
        desk.run(tape, start_seq=tape.add(0, 100.2))
        engine.poll_broker()
    assert broker.calls[before:] == [], broker.calls[before:]
    assert engine.trading_state == "HALTED"


def test_dead_session_when_the_operator_resumes_and_an_intent_arrives_then_nothing_is_placed(
    make_desk,
):
    desk, tape, wall, broker, engine = _dead_with_an_open_bracket(make_desk)
    before = len(broker.calls)
    wall.ns = 1 * S
    engine.set_trading_state("ACTIVE", "operator: ctl resume")
    seq = tape.add(0, 100.3)
    desk.run(tape, [intent(seq, qty=5, stop_loss=98.0, target=103.0)], start_seq=seq)
    for k in range(20, 90):
        wall.ns = k * S // 10
        desk.run(tape, start_seq=tape.add(0, 100.2))
        engine.poll_broker()
    assert broker.calls[before:] == [], broker.calls[before:]
