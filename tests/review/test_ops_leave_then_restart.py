"""`run.on_stop: leave` with only bracket legs working, then a later start on the same journal
(orders/onstop.py on the real engine and paper broker).

README "Stopping, and one instance": "A later start on the same run dir begins HALTED with the
stop's reason (`ctl resume` trades again)"; onstop.py: "Either way a later start on the same journal
begins HALTED ... resuming is the operator's call". With `leave`, HALTED is journaled only when a
working *entry* is to be cancelled (`elif engine.book.working_entries()`); a stop with only legs
working (the usual case: entries fill at once) journals nothing, and the next start trades ACTIVE by
itself.
"""

from types import SimpleNamespace

from orders.onstop import apply_stop_policy
from tests.orders.stubs import Tape, intent


def _stage(desk, policy):
    return SimpleNamespace(
        ctx=SimpleNamespace(
            config=SimpleNamespace(
                run=SimpleNamespace(on_stop=policy, on_stop_timeout_s=1.0),
                broker=SimpleNamespace(name="paper"),
            )
        ),
        engine=desk.engine,
        broker=desk.broker,
        commit=lambda: None,
        rt=SimpleNamespace(progress=lambda: None),
        instruments=SimpleNamespace(rows=desk.rows),
    )


def test_stop_when_leave_leaves_only_legs_then_a_restart_on_that_journal_begins_halted(make_desk):
    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, stop_loss=98.0, target=103.0)])
    desk.run(tape, start_seq=tape.prices(0, [100.2, 100.1]) - 1)
    assert desk.engine.book.working() and not desk.engine.book.working_entries()   # legs only
    report = apply_stop_policy(_stage(desk, "leave"))
    assert report["left_at_broker"]["working_orders"]           # said: the legs stay working
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    assert desk.engine.trading_state == "HALTED", desk.engine.trading_state
