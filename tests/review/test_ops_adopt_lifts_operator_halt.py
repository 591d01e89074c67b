"""`ctl adopt` after the operator halted or flattened (orders/reconciler.py, with the fakes of
tests/orders/test_reconcile.py).

README "Operator controls": after `flatten` "trading stays HALTED until `resume`"; "Reconciliation":
`ctl adopt` "resumes if reconciliation had halted". When reconciliation halted first and the
operator then halts (or flattens: HALTED + FlattenAll) on top, the engine is already HALTED so
nothing records the operator's halt, `halted_by_us` stays True, and a later `ctl adopt` sets ACTIVE:
trading resumes though the operator's last word was halt/flatten and nobody sent `resume`. The stage
forwards an operator's SetTradingState as `if reconciler.permits(state):
engine.set_trading_state(state, reason)` (orders/stage.py), which is what this test does.
"""

import pytest

from orders.reconciler import Reconciler
from tests.orders.test_reconcile import SYMBOLS, Clock, FakeBroker, FakeEngine


def _operator(r, engine, state, reason):
    if r.permits(state):                       # orders/stage.py on SetTradingState
        engine.set_trading_state(state, reason)


@pytest.mark.parametrize("cmd", ["halt", "flatten"])
def test_adopt_when_the_operator_halted_after_the_reconcile_halt_then_trading_stays_halted(
    tmp_path, cmd
):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    r = Reconciler(
        engine, broker, SYMBOLS, str(tmp_path), interval_s=60.0, on_start=True, clock=clock
    )
    broker.pos = {0: 3}                        # a position at the broker we do not know
    r.poll()
    clock.t += 3.5
    r.poll()
    # halted by reconciliation: right
    assert engine.trading_state == "HALTED" and r.outstanding
    # the operator: stop trading today
    _operator(r, engine, "HALTED", f"operator: ctl {cmd}")
    # ... and records the broker's view
    r.adopt()
    assert engine.trading_state == "HALTED", engine.states


def test_adopt_when_reconciliation_alone_halted_then_trading_resumes(tmp_path):
    """Holds: the documented case, adopt ends a halt that reconciliation made."""
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    r = Reconciler(
        engine, broker, SYMBOLS, str(tmp_path), interval_s=60.0, on_start=True, clock=clock
    )
    broker.pos = {0: 3}
    r.poll()
    clock.t += 3.5
    r.poll()
    r.adopt()
    assert engine.trading_state == "ACTIVE" and r.allows_active()
