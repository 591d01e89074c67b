"""The client-side throttle holds Upstox's order limits in sliding windows and refuses without
sending."""

import pytest

from common.errors import BrokerRetryable
from config.schema import UpstoxBrokerConfig
from orders.brokers.base import OrderRequest
from orders.brokers.upstox.config import UpstoxSettings
from orders.brokers.upstox.ratelimit import THROTTLED, UpstoxRateLimit
from tests.orders.brokers.kite.kite_support import FakeClock
from tests.orders.stubs import ist_ns
from tests.orders.brokers.upstox.upstox_support import make_upstox  # noqa: F401 - fixture


def test_eleventh_order_call_within_a_second_is_refused_and_a_second_later_allowed():
    clock = FakeClock(ist_ns(10, 0))
    t = UpstoxRateLimit(UpstoxSettings.from_config(UpstoxBrokerConfig()), clock)
    for _ in range(10):
        t.take_order("place_order")
        clock.advance(0.05)
    with pytest.raises(BrokerRetryable) as refused:
        t.take_order("cancel_order")        # modify and cancel share the order budget
    assert refused.value.code == THROTTLED and t.refused == 1
    clock.advance(0.55)
    t.take_order("place_order")


def test_the_minute_window_holds_500_and_the_half_hour_window_2000():
    clock = FakeClock(ist_ns(10, 0))
    t = UpstoxRateLimit(UpstoxSettings.from_config(UpstoxBrokerConfig()), clock)
    for _ in range(500):
        t.take_order("place_order")
        clock.advance(0.11)
    with pytest.raises(BrokerRetryable):
        t.take_order("place_order")
    sent = 500
    while sent < 2000:
        clock.advance(0.13)                 # under 10/s and under 500/min
        try:
            t.take_order("place_order")
            sent += 1
        except BrokerRetryable:
            pass
    assert clock.ns - ist_ns(10, 0) < 1800e9
    clock.advance(61.0)                     # the second and minute windows are empty again
    with pytest.raises(BrokerRetryable):
        t.take_order("place_order")


def test_a_throttled_placement_never_reaches_the_server(make_upstox):
    h = make_upstox(rate_limit_per_sec=2)
    h.tick(100.0)
    for n in range(2):
        h.broker.place(OrderRequest(f"THR{n}", 0, "SBIN", "NSE", 1, 1, "LIMIT", 95.0))
    with pytest.raises(BrokerRetryable):
        h.broker.place(OrderRequest("THR9", 0, "SBIN", "NSE", 1, 1, "LIMIT", 95.0))
    assert h.server.count("POST", "/v3/order/place") == 2
    h.clock.advance(1.0)
    h.broker.place(OrderRequest("THR9", 0, "SBIN", "NSE", 1, 1, "LIMIT", 95.0))


def test_a_poll_owed_its_trade_book_read_reads_only_the_trade_book(make_upstox):
    # As tests/orders/brokers/kite/test_kite_api_budget.py: the shared polling skeleton
    # (orders/brokers/live.py) offers the same order rows again rather than spend the one free
    # request on the order book each time.
    book, trade_book = "/v2/order/retrieve-all", "/v2/order/trades/get-trades-for-day"
    h = make_upstox(api_limits=((2, 1.0),), poll_interval_ms=0)
    h.tick(100.0)
    h.broker.place(OrderRequest("FILL1", 0, "SBIN", "NSE", 1, 5, "MARKET"))
    h.tick(100.0)                                    # filled at the broker
    h.broker.find_by_client_id("FILL1")              # one request of the two this second
    h.clock.advance(0.1)
    assert h.broker.poll_events() == []              # the book read fits, the trade book not
    assert (h.server.count("GET", book), h.server.count("GET", trade_book)) == (2, 0)

    h.clock.advance(0.95)                            # the lookup's place in the window frees
    trade, order = h.broker.poll_events()            # the trade first, then the order it filled
    assert (h.server.count("GET", book), h.server.count("GET", trade_book)) == (2, 1)
    assert (trade.client_order_id, trade.qty, order.filled_qty) == ("FILL1", 5, 5)
