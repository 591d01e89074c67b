"""UpstoxBroker against the local Upstox server: in-doubt placements, failure switches, the wire."""

import threading
from types import SimpleNamespace

from config.feeds import FeedConfig

import pytest

from common.errors import BrokerFatal, BrokerRejected, BrokerRetryable, ConfigError
from config.schema import UpstoxBrokerConfig
from config.secrets import Secrets
from orders import statemachine as sm
from orders.brokers import make_broker
from orders.brokers.base import BrokerOrder, BrokerTrade, OrderRequest
from orders.brokers.upstox.broker import UpstoxBroker
from orders.brokers.upstox.credentials import UpstoxCredentials
from orders.brokers.upstox.http import UpstoxHttp
from tests.orders.brokers.upstox import upstox_support
from tests.orders.brokers.upstox.upstox_support import make_upstox, upstox  # noqa: F401 - fixtures

TOKEN = "wrong-but-secret-token"


def req(h, coid, *, order_type="LIMIT", price=95.0, qty=10, side=1, instrument=0):
    symbol, exchange = ("SBIN", "NSE") if instrument == 0 else ("NIFTY26MARFUT", "NFO")
    return OrderRequest(coid, instrument, symbol, exchange, side, qty, order_type, price,
                        after_seq=h.seq)


def test_accept_then_timeout_is_retryable_and_the_order_is_found_by_its_tag(make_upstox):
    h = make_upstox(timeout_s=0.3)
    h.tick(100.0)
    h.server.fail_next("accept_timeout", delay_s=3.0, route="POST /v3/order/place")
    with pytest.raises(BrokerRetryable) as raised:
        h.broker.place(req(h, "INDOUBT1"))
    assert raised.value.code == "Timeout" and "outcome unknown" in str(raised.value)
    found = h.broker.find_by_client_id("INDOUBT1")
    assert found is not None and found.status == sm.ACCEPTED and found.qty == 10
    assert h.server.count("POST", "/v3/order/place") == 1      # never re-sent by the adapter


def test_a_placement_answered_429_or_500_is_retryable_and_sent_once(upstox):
    upstox.tick(100.0)
    for mode, code in (("429", "UDAPI10005"), ("500", "UDAPI100500")):
        upstox.server.fail_next(mode)
        with pytest.raises(BrokerRetryable) as raised:
            upstox.broker.place(req(upstox, f"FAIL{mode}"))
        assert raised.value.code == code
    assert upstox.server.count("POST", "/v3/order/place") == 2


def test_a_dropped_connection_is_retryable(make_upstox):
    h = make_upstox(timeout_s=0.3)
    h.server.fail_next("drop", delay_s=0.0)
    with pytest.raises(BrokerRetryable):
        h.broker.orders()


def test_a_bad_token_is_fatal_and_the_message_does_not_hold_it(upstox):
    broker = upstox.open_broker(token=TOKEN)
    with pytest.raises(BrokerFatal) as raised:
        broker.orders()
    assert raised.value.code == "UDAPI100050" and TOKEN not in str(raised.value)
    upstox.server.fail_next("token")
    with pytest.raises(BrokerFatal):
        upstox.broker.poll_events()        # a poll swallows retryable errors, never the token


def test_input_refused_by_the_server_is_a_rejection(upstox):
    upstox.server.fail_next("input")
    with pytest.raises(BrokerRejected) as raised:
        upstox.broker.place(req(upstox, "BADINPUT1"))
    assert raised.value.code == "UDAPI100038"


def test_orders_the_exchange_would_refuse_cost_no_request(upstox):
    before = upstox.broker.requests_sent
    for bad in (req(upstox, "LOT1", instrument=1, qty=30),          # lot size 25
                req(upstox, "FRZ1", qty=501), req(upstox, "TICK1", price=95.01),
                req(upstox, "has space"), req(upstox, "MKT1", order_type="SL-M", price=0)):
        with pytest.raises(BrokerRejected):
            upstox.broker.place(bad)
    assert upstox.broker.requests_sent == before


def test_placement_carries_the_tag_intraday_product_and_market_protection(upstox):
    upstox.tick(100.0)
    upstox.broker.place(req(upstox, "MKTPROT1", order_type="MARKET", price=0.0))
    upstox.tick(100.0)
    (row,) = [r for r in upstox.server.exchange.orders() if r["tag"] == "MKTPROT1"]
    assert row["product"] == "I" and row["status"] == "complete"
    assert row["instrument_token"] == "NSE_EQ|INE062A01020"


def test_poll_events_reports_each_trade_once_and_order_changes(upstox):
    upstox.tick(100.0)
    ack = upstox.broker.place(req(upstox, "POLL1", order_type="MARKET", price=0.0))
    upstox.tick(100.5)
    events = upstox.broker.poll_events()
    trades = [e for e in events if isinstance(e, BrokerTrade)]
    orders = [e for e in events if isinstance(e, BrokerOrder)]
    assert [t.qty for t in trades] == [10] and trades[0].client_order_id == "POLL1"
    assert orders[-1].broker_order_id == ack.broker_order_id and orders[-1].status == sm.FILLED
    assert upstox.broker.poll_events() == []


def test_every_sdk_call_passes_a_finite_request_timeout(upstox):
    seen = []
    http = upstox.broker._http

    def spy(fn):
        def call(*args, **kwargs):
            seen.append(kwargs.get("_request_timeout"))
            return fn(*args, **kwargs)
        return call

    for api in (http._orders_v3, http._orders, http._portfolio):
        for name in ("place_order", "modify_order", "cancel_order", "get_order_book",
                     "get_trade_history", "get_positions"):
            if hasattr(api, name):
                setattr(api, name, spy(getattr(api, name)))
    upstox.tick(100.0)
    ack = upstox.broker.place(req(upstox, "TIMEOUT1"))
    upstox.broker.modify(ack.broker_order_id, price=96.0)
    upstox.broker.cancel(ack.broker_order_id)
    upstox.broker.trades()
    upstox.broker.positions()
    assert len(seen) >= 6 and all(t == (2.0, 2.0) for t in seen)


def test_close_releases_the_sdk_worker_pool_and_is_idempotent(upstox):
    before = threading.active_count()
    http = UpstoxHttp(UpstoxCredentials("key", "token"), upstox.server.url, upstox.server.url)
    http.close()
    http.close()
    assert threading.active_count() <= before


def _config(**upstox):
    section = UpstoxBrokerConfig(**({"timeout_s": 2.0} | upstox))   # the schema's defaults
    return SimpleNamespace(broker=SimpleNamespace(name="upstox", upstox=section),
                           feed=FeedConfig())


def test_the_broker_factory_builds_an_upstox_broker_for_a_local_server(upstox, tmp_path):
    url = upstox.server.url
    broker = make_broker(_config(local_server=True, host=url, order_host=url), Secrets(),
                         upstox_support.ROWS, str(tmp_path))
    try:
        assert broker.orders() == []
    finally:
        broker.close()


def test_a_live_upstox_broker_without_a_token_names_the_missing_variable():
    with pytest.raises(ConfigError, match="UPSTOX_API_KEY"):
        UpstoxBroker.from_config(_config(), Secrets(), upstox_support.ROWS)
    with pytest.raises(ConfigError, match="order_host"):
        UpstoxBroker.from_config(_config(host="http://127.0.0.1:1"), Secrets(), upstox_support.ROWS)


def test_the_algo_name_goes_as_x_algo_name_on_every_order_call_and_on_no_other(upstox):
    # Upstox's 2026 retail-algo rules: an algo app's order calls carry its Algo Name.
    broker = upstox.open_broker(algo_name="otrade-mac")
    upstox.tick(100.0)
    ack = broker.place(req(upstox, "ALGONAME1"))
    broker.modify(ack.broker_order_id, price=96.0)
    broker.cancel(ack.broker_order_id)
    broker.orders()
    broker.trades()
    assert upstox.server.algo_names == ["otrade-mac"] * 3
    upstox.broker.place(req(upstox, "ALGONAME2"))          # no algo name configured: none sent
    assert upstox.server.algo_names[-1] == ""


@pytest.mark.parametrize("name", ["x" * 65, "a\nb", "tab\there"])
def test_an_algo_name_that_cannot_be_a_header_is_refused_by_the_config(name):
    with pytest.raises(ValueError, match="algo_name: must be printable"):
        UpstoxBrokerConfig(algo_name=name)


def test_a_local_venue_replayed_at_8x_holds_upstoxs_limits_per_market_second(upstox, tmp_path):
    """As for Kite (tests/orders/brokers/kite/test_kite_config.py): every window shorter than a
    day allows 8x the requests a wall second at a replay's 8x; the real broker keeps its own."""
    from config.feeds import ReplayFeedConfig

    url = upstox.server.url
    config = _config(local_server=True, host=url, order_host=url)
    config.feed = FeedConfig(source="replay", replay=ReplayFeedConfig(path="x.csv", speed=8.0))
    broker = make_broker(config, Secrets(), upstox_support.ROWS, str(tmp_path))
    try:
        assert broker._settings.order_limits == ((80, 1.0), (4000, 60.0), (16000, 1800.0))
        assert broker._settings.api_limits == ((400, 1.0), (4000, 60.0))
    finally:
        broker.close()
