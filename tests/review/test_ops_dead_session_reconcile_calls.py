"""A dead session means no calls (issue 11.6) — through reconciliation's operator paths
(orders/reconciler.py, with the fakes of tests/orders/test_reconcile.py).

README "Reconciliation": "after a fatal broker error reconciliation makes no call"; issue 11.6:
after a FATAL broker error no broker call at all but one probe every N s "until a probe succeeds or
the operator acts". `poll()` honours engine.broker_down, but `permits("ACTIVE")` (every `ctl resume`
while a difference is outstanding) runs `check()` directly, and `cancel_unknown()` (every `ctl
flatten`) reads the broker's order book: each makes broker calls with the refused token, none of
them a probe that would tell the engine the session is back. (Kite may block an API key that keeps
doing this.)
"""

from common.errors import BrokerFatal
from orders.reconciler import Reconciler
from tests.orders.test_reconcile import SYMBOLS, Clock, FakeBroker, FakeEngine

REFUSED = "TokenException: Incorrect `api_key` or `access_token`."


class CountingBroker(FakeBroker):
    def __init__(self):
        super().__init__()
        self.calls = []

    def orders(self):
        self.calls.append("orders")
        return super().orders()

    def trades(self):
        self.calls.append("trades")
        return super().trades()

    def positions(self):
        self.calls.append("positions")
        return super().positions()


def _halted_by_a_difference_then_the_session_dies(tmp_path):
    engine, broker, clock = FakeEngine(), CountingBroker(), Clock()
    engine.broker_down = ""
    r = Reconciler(
        engine, broker, SYMBOLS, str(tmp_path), interval_s=60.0, on_start=True, clock=clock
    )
    broker.pos = {0: 3}
    r.poll()
    clock.t += 3.5
    r.poll()
    assert r.outstanding and engine.trading_state == "HALTED"
    engine.broker_down = REFUSED            # the engine's poll met the refused token
    broker.fail = BrokerFatal(REFUSED)
    broker.calls.clear()
    return r, broker, clock


def test_dead_session_when_reconcile_polls_then_no_call(tmp_path):
    """Holds: the periodic and requested checks wait for the session."""
    r, broker, clock = _halted_by_a_difference_then_the_session_dies(tmp_path)
    r.request()
    for _ in range(10):
        clock.t += 61.0
        r.poll()
    assert broker.calls == []


def test_dead_session_when_the_operator_tries_to_resume_then_no_broker_call(tmp_path):
    r, broker, clock = _halted_by_a_difference_then_the_session_dies(tmp_path)
    for _ in range(5):                      # an operator trying `ctl resume` a few times
        assert not r.permits("ACTIVE")
    assert broker.calls == [], broker.calls


def test_dead_session_when_the_operator_flattens_then_reconciliation_makes_no_broker_call(tmp_path):
    r, broker, clock = _halted_by_a_difference_then_the_session_dies(tmp_path)
    r.cancel_unknown()
    assert broker.calls == [], broker.calls
