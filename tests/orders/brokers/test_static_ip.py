"""An order refused because our IP is not whitelisted (SEBI retail-algo rules) is a fatal error of
its own, STATIC_IP, whose message names the IP and where to whitelist it: not a generic rejection,
and not a dead session (orders/brokers/staticip.py)."""

import pytest
from kiteconnect import exceptions as kex

from common.errors import BrokerFatal, BrokerRejected
from common.messages import OrderRejected, TradingStateChanged
from orders.brokers import staticip
from orders.brokers.base import OrderRequest
from orders.brokers.kite import errors as kite_errors
from orders.brokers.upstox import errors as upstox_errors
from tests.orders.brokers.kite.kite_support import kite, make_kite  # noqa: F401 - fixtures
from tests.orders.stubs import FlakyBroker, Tape, intent, of_type
from tests.orders.brokers.upstox.upstox_support import make_upstox, upstox  # noqa: F401 - fixtures


def limit(coid):
    return OrderRequest(coid, 0, "SBIN", "NSE", 1, 10, "LIMIT", 95.0)


def test_kite_venue_when_it_refuses_our_ip_then_place_raises_static_ip_fatal_naming_ip_and_console(
    kite,
):
    kite.server.fail_next("static_ip", route="POST /orders")
    with pytest.raises(BrokerFatal) as refused:
        kite.broker.place(limit("EIP1"))
    e = refused.value
    assert e.code == staticip.STATIC_IP and e.http_status == 403
    assert "refused an order from IP 203.0.113.7" in str(e)
    assert "developers.kite.trade" in str(e) and "log in again" not in str(e)


def test_upstox_venue_when_it_refuses_our_ip_then_place_raises_static_ip_fatal(upstox):
    upstox.server.fail_next("static_ip", route="POST /v3/order/place")
    with pytest.raises(BrokerFatal) as refused:
        upstox.broker.place(limit("EIP2"))
    e = refused.value
    assert e.code == staticip.STATIC_IP
    assert "refused an order from IP 203.0.113.7" in str(e) and "/v2/user/ip" in str(e)


def test_kite_reported_text_without_type_is_recognised_and_other_permission_errors_are_not():
    reported = kex.InputException("IP (2402:e280:3d1c:1b3::1) is not allowed", code=400)
    e = kite_errors.classify(reported, "place_order")
    assert e.code == "STATIC_IP" and "IP 2402:e280:3d1c:1b3::1" in str(e)
    other = kite_errors.classify(kex.PermissionException("Insufficient permission for that call.",
                                                         code=403), "place_order")
    assert isinstance(other, BrokerFatal) and other.code == "PermissionException"
    market = kite_errors.classify(kex.InputException(
        "Market orders without market protection are not allowed via API", code=400), "place_order")
    assert isinstance(market, BrokerRejected)        # "API" is not "IP": an order rule, not our IP


def test_upstox_refusal_that_names_no_ip_says_how_to_find_it():
    body = (
        b'{"status":"error","errors":[{"errorCode":"UDAPI1","message":"Static IP not registered"}]}'
    )
    e = upstox_errors.from_response(403, body, "place_order")
    assert e.code == "STATIC_IP" and "python -m orders.brokers.upstox.check" in str(e)


def test_engine_when_an_order_meets_a_static_ip_refusal_then_halt_reason_says_whitelist_the_ip(
    make_desk,
):
    fatal = kite_errors.classify(
        kex.PermissionException("IP (198.51.100.4) is not allowed", code=403), "place_order"
    )
    desk = make_desk(wrap=lambda b: FlakyBroker(b, {1: ("before", fatal)}))
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=98.0, target=103.0)])
    (refused,) = of_type(desk.events, OrderRejected)
    halts = [m for m in of_type(desk.events, TradingStateChanged) if m.state == "HALTED"]
    assert len(halts) == 1
    assert "the broker refused an order from IP 198.51.100.4" in halts[0].reason
    assert "whitelist it in the Kite Connect developer console" in halts[0].reason
    assert "IP 198.51.100.4" in refused.reason


def test_upstox_refusal_in_a_200_error_envelope_is_still_static_ip():
    body = (b'{"status":"error","errors":[{"errorCode":"UDAPI1",'
            b'"message":"IP 192.0.2.9 is not whitelisted"}]}')
    e = upstox_errors.from_response(200, body, "cancel_order")
    assert e.code == "STATIC_IP" and "IP 192.0.2.9" in str(e)
