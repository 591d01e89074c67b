"""Failures at the wire: timeouts are in doubt (looked up, never re-sent), 429/5xx retryable,
token errors fatal with a message that shows no token."""

import pytest

from common.errors import BrokerFatal, BrokerRetryable
from orders import statemachine as sm
from orders.brokers.base import OrderRequest
from orders.brokers.kite.broker import KiteBroker
from orders.brokers.kite.credentials import KiteCredentials
from tests.orders.brokers.kite.kite_support import kite, make_kite  # noqa: F401 - fixtures

SHORT = {"timeout_s": 0.3}


def limit(coid, price=95.0):
    return OrderRequest(coid, 0, "SBIN", "NSE", 1, 10, "LIMIT", price)


def test_accepted_then_timed_out_placement_is_in_doubt_and_found_by_its_tag(make_kite):
    h = make_kite(**SHORT)
    h.server.fail_next("accept_timeout", delay_s=30, route="POST /orders")
    with pytest.raises(BrokerRetryable) as in_doubt:
        h.broker.place(limit("EDOUBT1"))
    assert in_doubt.value.code == "Timeout"
    found = h.broker.find_by_client_id("EDOUBT1")
    assert found is not None and found.status == sm.ACCEPTED and found.qty == 10
    assert h.server.count("POST", "/orders") == 1          # the adapter never re-sent it
    assert [o.client_order_id for o in h.broker.orders()] == ["EDOUBT1"]


def test_a_dropped_placement_is_in_doubt_and_the_lookup_proves_it_never_arrived(make_kite):
    h = make_kite(**SHORT)
    h.server.fail_next("drop", delay_s=30, route="POST /orders")
    with pytest.raises(BrokerRetryable):
        h.broker.place(limit("EDROP1"))
    assert h.broker.find_by_client_id("EDROP1") is None
    h.broker.place(limit("EDROP1"))                        # the engine's one re-send
    assert h.broker.find_by_client_id("EDROP1").status == sm.ACCEPTED


@pytest.mark.parametrize("mode, status", [("429", 429), ("500", 500), ("502", 502), ("503", 503)])
def test_rate_limit_and_server_errors_are_retryable_and_place_nothing(kite, mode, status):
    kite.server.fail_next(mode, route="POST /orders")
    with pytest.raises(BrokerRetryable) as refused:
        kite.broker.place(limit("ERETRY1"))
    assert refused.value.http_status == status
    assert kite.broker.find_by_client_id("ERETRY1") is None


def test_a_slow_answer_within_the_timeout_is_just_an_answer(make_kite):
    h = make_kite(timeout_s=5.0)
    h.server.fail_next("delay", delay_s=0.05, route="GET /orders")
    assert h.broker.orders() == []


def test_a_token_error_is_fatal_and_its_message_shows_no_token(kite):
    kite.server.fail_next("token")
    with pytest.raises(BrokerFatal) as fatal:
        kite.broker.place(limit("ETOKEN1"))
    assert fatal.value.code == "TokenException" and fatal.value.http_status == 403
    assert "local-token" not in str(fatal.value) and "login" in str(fatal.value)


def test_a_wrong_access_token_is_fatal_without_being_quoted(kite):
    wrong = "wrong-token-123456"
    broker = KiteBroker(
        kite.table, kite.settings, KiteCredentials("local", wrong), clock=kite.clock
    )
    try:
        with pytest.raises(BrokerFatal) as fatal:
            broker.orders()
        assert wrong not in str(fatal.value) and wrong not in repr(fatal.value)
    finally:
        broker.close()
    assert wrong not in repr(KiteCredentials("local", wrong))


def test_a_failed_poll_is_counted_and_skipped_and_the_next_one_reports(kite):
    kite.broker.place(limit("EPOLL1"))
    kite.server.fail_next("500", route="GET /orders")
    assert kite.broker.poll_events() == []
    assert kite.broker.poll_failures == 1
    assert [e.client_order_id for e in kite.broker.poll_events()] == ["EPOLL1"]


def test_a_token_error_while_polling_is_raised(kite):
    kite.server.fail_next("token", route="GET /orders")
    with pytest.raises(BrokerFatal):
        kite.broker.poll_events()


def test_stop_ends_a_pending_slow_answer_at_once(make_kite):
    h = make_kite(**SHORT)
    h.server.fail_next("accept_timeout", delay_s=600, route="POST /orders")
    with pytest.raises(BrokerRetryable):
        h.broker.place(limit("ESTOP1"))
    h.server.stop()       # returns without waiting out the 600 s: the fixture then checks threads
