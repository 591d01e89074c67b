"""Two-leg GTT (OCO) exits: placed and deleted through the adapter, fired by the local server."""

import pytest
from kiteconnect import KiteConnect

from common.errors import BrokerRejected
from orders.brokers.base import CAP_GTT_OCO, OrderRequest
from tests.orders.brokers.kite.kite_support import kite, make_kite  # noqa: F401 - fixtures


def gtts(h) -> dict:
    sdk = KiteConnect("local", access_token="local-token", root=h.server.url, timeout=2)
    return {g["id"]: g for g in sdk.get_gtts()}


@pytest.fixture
def long_position(make_kite):
    h = make_kite(use_gtt=True)
    h.tick(100.0)
    h.broker.place(OrderRequest("EGTTENTRY1", 0, "SBIN", "NSE", 1, 10, "MARKET"))
    h.tick(100.0)
    return h


def test_gtt_is_offered_only_when_configured(kite, make_kite):
    assert CAP_GTT_OCO not in kite.broker.capabilities
    assert CAP_GTT_OCO in make_kite(use_gtt=True).broker.capabilities
    with pytest.raises(BrokerRejected):
        kite.broker.place_oco(0, 1, 10, 98.0, 103.0, last_price=100.0)


def test_a_long_positions_oco_sells_at_the_stop_below_and_the_target_above(long_position):
    trigger_id = long_position.broker.place_oco(0, 1, 10, 98.0, 103.0, last_price=100.0)
    gtt = gtts(long_position)[int(trigger_id)]
    assert (gtt["type"], gtt["status"]) == ("two-leg", "active")
    assert gtt["condition"]["trigger_values"] == [98.0, 103.0]
    assert [(o["transaction_type"], o["price"], o["quantity"]) for o in gtt["orders"]] == \
        [("SELL", 98.0, 10), ("SELL", 103.0, 10)]


def test_the_target_leg_fires_fills_and_ends_the_gtt(long_position):
    h = long_position
    trigger_id = int(h.broker.place_oco(0, 1, 10, 98.0, 103.0, last_price=100.0))
    h.ticks([101.0, 103.0, 103.5])
    gtt = gtts(h)[trigger_id]
    assert gtt["status"] == "triggered"
    result = gtt["orders"][1]["result"]["order_result"]
    assert result["status"] == "success" and gtt["orders"][0]["result"] is None
    # A GTT's order carries no tag of ours, so the adapter's orders() leaves it out: read the book
    # raw.
    exit_row = next(
        r for r in h.server.exchange.orders() if str(r["order_id"]) == str(result["order_id"])
    )
    assert (exit_row["status"], exit_row["transaction_type"]) == ("COMPLETE", "SELL")
    assert h.broker.positions()[0].qty == 0
    h.tick(97.0)                                     # the stop leg is gone with its GTT
    assert len(h.server.exchange.orders()) == 2


def test_a_short_positions_oco_puts_the_stop_above(make_kite):
    h = make_kite(use_gtt=True)
    trigger_id = int(h.broker.place_oco(0, -1, 5, 102.0, 97.0, last_price=100.0))
    gtt = gtts(h)[trigger_id]
    assert gtt["condition"]["trigger_values"] == [97.0, 102.0]
    assert [o["transaction_type"] for o in gtt["orders"]] == ["BUY", "BUY"]


def test_deleting_an_oco_stops_it_firing(long_position):
    h = long_position
    trigger_id = h.broker.place_oco(0, 1, 10, 98.0, 103.0, last_price=100.0)
    h.broker.delete_oco(trigger_id)
    h.ticks([97.0, 104.0])
    assert gtts(h)[int(trigger_id)]["status"] == "deleted"
    assert len(h.broker.orders()) == 1
    with pytest.raises(BrokerRejected):
        h.broker.delete_oco(trigger_id)


def test_triggers_that_do_not_bracket_the_last_price_are_refused(long_position):
    with pytest.raises(BrokerRejected):
        long_position.broker.place_oco(0, 1, 10, 98.0, 103.0, last_price=104.0)
    assert long_position.server.count("POST", "/gtt") == 0
