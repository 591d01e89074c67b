"""The start check of reconciliation after a refused session (orders/reconciler.py), with the fakes
of tests/orders/test_reconcile.py.

At start the orders stage applies no tick while the reconciler is `holding` (the account is not yet
known to match). When the start check's read meets a fatal broker error (a refused token),
`_unanswered` reschedules it only for the next *periodic* check: with `broker.reconcile_interval_s:
0` ("only at start and on ctl reconcile", a documented setting) that is never, so after the session
works again the stage holds for ever: no tick applied, no exit managed by the engine, no message
saying why.
"""

from common.errors import BrokerFatal
from orders.reconciler import Reconciler
from tests.orders.test_reconcile import SYMBOLS, Clock, FakeBroker, FakeEngine


def _refused_at_start(tmp_path, interval_s):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    engine.broker_down = ""
    r = Reconciler(
        engine, broker, SYMBOLS, str(tmp_path), interval_s=interval_s, on_start=True, clock=clock
    )
    broker.fail = BrokerFatal("TokenException: Incorrect `api_key` or `access_token`.")
    r.poll()
    assert r.holding                       # an unverified account is not traded: right
    # the engine's probe went through: the session works again
    broker.fail = None
    return r, clock


def test_start_check_when_refused_and_the_session_comes_back_with_no_periodic_check_then_it_stops_holding(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    r, clock = _refused_at_start(tmp_path, interval_s=0.0)
    for _ in range(100):                   # an hour of polls
        clock.t += 36.0
        r.poll()
    assert not r.holding, r.as_json()


def test_start_check_when_refused_and_the_session_comes_back_then_the_periodic_check_ends_the_hold(
    tmp_path,
):
    """Holds with the default interval: the hold ends at the next periodic check (up to 60 s
    later)."""
    r, clock = _refused_at_start(tmp_path, interval_s=60.0)
    clock.t += 61.0
    r.poll()
    assert not r.holding
