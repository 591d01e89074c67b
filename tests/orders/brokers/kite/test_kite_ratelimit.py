"""The client-side throttle holds Kite's limits in sliding windows and refuses without sending."""

import pytest

from common.errors import BrokerRetryable
from config.schema import KiteBrokerConfig
from orders.brokers.base import OrderRequest
from orders.brokers.kite.config import KiteSettings
from orders.brokers.kite.ratelimit import THROTTLED, KiteRateLimit
from tests.orders.brokers.kite.kite_support import FakeClock, make_kite  # noqa: F401 - fixture
from tests.orders.stubs import ist_ns


def throttle(clock, **limits):
    return KiteRateLimit(KiteSettings.from_config(KiteBrokerConfig(), **limits), clock)


def test_eleventh_placement_within_a_second_is_refused_and_a_second_later_allowed():
    clock = FakeClock(ist_ns(10, 0))
    t = throttle(clock)
    for _ in range(10):
        t.take_order()
        clock.advance(0.05)
    with pytest.raises(BrokerRetryable) as refused:
        t.take_order()
    assert refused.value.code == THROTTLED and t.refused == 1
    clock.advance(0.55)          # the first placement is now more than a second old
    t.take_order()


def test_the_minute_window_holds_400_placements():
    clock = FakeClock(ist_ns(10, 0))
    t = throttle(clock)
    for _ in range(400):
        t.take_order()
        clock.advance(0.12)      # 8 a second: never the per-second limit
    with pytest.raises(BrokerRetryable):
        t.take_order()
    clock.advance(60.0 - 0.12 * 399)
    t.take_order()


def test_the_day_cap_resets_at_ist_midnight():
    clock = FakeClock(ist_ns(15, 0))
    t = throttle(clock, orders_per_day=3)
    for _ in range(3):
        t.take_order()
        clock.advance(60)
    with pytest.raises(BrokerRetryable):
        t.take_order()
    clock.advance(9 * 3600 + 1)  # past midnight IST
    t.take_order()


def test_other_requests_have_their_own_ten_a_second_window():
    clock = FakeClock(ist_ns(10, 0))
    t = throttle(clock)
    for _ in range(10):
        t.take_api("orders")
    assert not t.api_room()
    t.take_order()               # placements are counted apart
    with pytest.raises(BrokerRetryable):
        t.take_api("orders")
    clock.advance(1.0)
    assert t.api_room()


def test_a_throttled_placement_never_reaches_the_server(make_kite):  # noqa: F811
    h = make_kite(orders_per_sec=2)
    for n in range(2):
        h.broker.place(OrderRequest(f"EPLACE{n}", 0, "SBIN", "NSE", 1, 1, "LIMIT", price=90.0))
    with pytest.raises(BrokerRetryable) as refused:
        h.broker.place(OrderRequest("EPLACE2", 0, "SBIN", "NSE", 1, 1, "LIMIT", price=90.0))
    assert refused.value.code == THROTTLED
    assert h.server.count("POST", "/orders") == 2
    assert h.broker.find_by_client_id("EPLACE2") is None


def test_polling_skips_a_poll_rather_than_spend_the_last_request(make_kite):  # noqa: F811
    h = make_kite(api_per_sec=1)
    h.broker.orders()
    assert h.broker.poll_events() == []
    assert h.server.count("GET", "/orders") == 1
