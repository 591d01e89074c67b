"""`ctl halt|flatten` then `ctl resume` before the flatten's close went through (issue 11.5), on the
engine with the paper broker.

README "Operator controls": `flatten` cancels every working order and closes every position, and
trading stays HALTED until `resume`. FlattenAll cancels the bracket's legs and closes the brackets
in the desk (desk.close_all) at once; the close itself is a MARKET order that a broker can refuse
(an RMS rejection), retried after CLOSE_RETRY_NS only while the engine is `flattening`. A resume
(ACTIVE) clears `flattening`: the position is then neither closed nor protected — no stop, no target
— however far the price falls. An operator resumes exactly when `ctl flatten` answered "no effect
within 60s".
"""

from common.messages import OrderSubmitting
from orders import statemachine as sm
from tests.orders.stubs import FlakyBroker, Tape
from tests.orders.test_brackets import open_bracket


def _flatten_refused_once(make_desk, *, resume: bool):
    refuse = {"on": False}
    desk = make_desk(
        wrap=lambda b: FlakyBroker(
            b, refuse=lambda req: refuse["on"] and req.order_type == "MARKET"
        )
    )
    tape = Tape()
    open_bracket(desk, tape)                               # entry 10 @ ~100, stop 98, target 103
    desk.run(tape, start_seq=tape.prices(0, [100.5]))      # entry filled, both legs working
    assert desk.engine.positions()[0][0] == 10
    # the broker's RMS refuses the first close
    refuse["on"] = True
    desk.engine.set_trading_state("HALTED", "operator: ctl flatten")
    desk.engine.flatten_all("operator: ctl flatten")
    refuse["on"] = False
    if resume:
        desk.engine.set_trading_state("ACTIVE", "operator: ctl resume")
    start = tape.seq + 1
    # 4 s of market time, down through the old stop
    tape.prices(0, [100.4 - 0.5 * i for i in range(40)])
    desk.run(tape, start_seq=start)
    return desk


def _protected_or_flat(desk) -> bool:
    qty = desk.engine.positions()[0][0]
    working_exits = [o for o in desk.engine.book.orders.values()
                     if o.status in sm.WORKING and o.side == -1 and o.instrument == 0]
    return qty == 0 or sum(o.qty - o.filled_qty for o in working_exits) >= qty


def test_flatten_when_its_close_is_refused_once_then_it_is_retried_and_the_position_closes(
    make_desk,
):
    """Holds: HALTED and flattening, the refused close is placed again a second later and fills."""
    desk = _flatten_refused_once(make_desk, resume=False)
    assert desk.engine.positions()[0][0] == 0
    closes = [m for m in desk.events if isinstance(m, OrderSubmitting) and m.role == "FLATTEN"]
    assert len(closes) == 2


def test_resume_when_a_flatten_close_is_still_to_be_retried_then_the_position_is_closed_or_protected(  # noqa: E501 - the name is the test's sentence
    make_desk,
):
    desk = _flatten_refused_once(make_desk, resume=True)
    assert _protected_or_flat(desk), (desk.engine.positions(), desk.engine.book.orders)


def test_resume_when_the_flatten_is_not_done_then_refused_with_the_reason_and_allowed_once_flat(
    make_desk,
):
    desk = _flatten_refused_once(make_desk, resume=True)
    assert desk.engine.trading_state == "HALTED" and "resume refused" in desk.engine.state_reason
    desk.engine.set_trading_state("ACTIVE", "operator: ctl resume")
    assert desk.engine.trading_state == "ACTIVE" and not desk.engine.flattening
