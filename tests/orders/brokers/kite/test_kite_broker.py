"""KiteBroker against the local Kite server: what it sends, what it refuses, what it reports."""

import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from common.errors import BrokerRejected
from localvenue.kite.server import KiteLocalServer
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerTrade, OrderRequest
from tests.orders.brokers.kite.kite_support import kite, make_kite  # noqa: F401 - fixtures


def req(coid, *, side=1, qty=10, order_type="LIMIT", price=0.0, trigger=0.0, instrument=0):
    symbol, exchange = ("SBIN", "NSE") if instrument == 0 else ("NIFTY26MARFUT", "NFO")
    return OrderRequest(coid, instrument, symbol, exchange, side, qty, order_type, price, trigger)


def sdk(h) -> KiteConnect:
    """The official client, straight at the server: to read what the adapter really sent."""
    return KiteConnect("local", access_token="local-token", root=h.server.url, timeout=2)


def row_of(h, coid) -> dict:
    return next(r for r in sdk(h).orders() if r["tag"] == coid)


def test_place_sends_a_regular_mis_order_tagged_with_the_client_id(kite):
    ack = kite.broker.place(req("EREGULAR1", price=95.0))
    row = row_of(kite, "EREGULAR1")
    assert ack.status == sm.ACCEPTED and row["order_id"] == ack.broker_order_id
    assert (row["variety"], row["product"], row["order_type"], row["price"]) == \
        ("regular", "MIS", "LIMIT", 95.0)
    assert kite.server.count("POST", "/orders/regular") == 1


@pytest.mark.parametrize("order_type, trigger", [("MARKET", 0.0), ("SL-M", 90.0)])
def test_market_and_stop_market_orders_carry_market_protection(kite, order_type, trigger):
    kite.broker.place(req("EPROTECT1", side=-1, order_type=order_type, trigger=trigger))
    assert row_of(kite, "EPROTECT1")["market_protection"] == -1


def test_the_server_refuses_a_market_order_without_market_protection(kite):
    with pytest.raises(kex.InputException, match="market protection"):
        sdk(kite).place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET", tag="EBARE1")


@pytest.mark.parametrize("bad, code", [
    (req("E" * 21), "InputException"),
    (req("E-DASHED", price=95.0), "InputException"),
    (req("EFREEZE1", qty=501, price=95.0), "ABOVE_FREEZE_QTY"),
    (req("ELOT1", qty=30, price=95.0, instrument=1), "LOT_SIZE"),
    (req("ETICK1", price=95.01), "TICK_SIZE"),
    (req("ENOPRICE1"), "InputException"),
])
def test_orders_kite_would_refuse_are_rejected_without_a_request(kite, bad, code):
    with pytest.raises(BrokerRejected) as refused:
        kite.broker.place(bad)
    assert refused.value.code == code
    assert kite.server.count("POST", "/orders") == 0


def test_a_margin_refusal_is_a_rejection_and_leaves_no_order(kite):
    kite.server.fail_next("margin", route="POST /orders")
    with pytest.raises(BrokerRejected, match="Insufficient funds"):
        kite.broker.place(req("EMARGIN1", price=95.0))
    assert kite.broker.find_by_client_id("EMARGIN1") is None


def test_a_late_rejection_in_the_order_book_arrives_through_poll_events(kite):
    # Placed around the adapter's own checks, so the exchange (paper rules) refuses it after a 200.
    sdk(kite).place_order("regular", "NSE", "SBIN", "BUY", 10, "MIS", "LIMIT", price=95.01,
                          tag="ELATE1")
    (event,) = [e for e in kite.broker.poll_events() if e.client_order_id == "ELATE1"]
    assert event.status == sm.REJECTED and "tick size" in event.reason


def test_modify_changes_price_and_quantity_and_cancel_is_confirmed_by_the_next_poll(kite):
    ack = kite.broker.place(req("EMODIFY1", price=95.0))
    kite.broker.modify(ack.broker_order_id, qty=12, price=96.0)
    row = row_of(kite, "EMODIFY1")
    assert (row["quantity"], row["price"], row["modified"]) == (12, 96.0, True)
    assert kite.broker.cancel(ack.broker_order_id).status == sm.CANCEL_PENDING
    (event,) = [e for e in kite.broker.poll_events() if e.client_order_id == "EMODIFY1"]
    assert event.status == sm.CANCELED


def test_modifying_or_canceling_a_filled_order_is_rejected(kite):
    kite.tick(100.0)
    ack = kite.broker.place(req("EFILLED1", order_type="MARKET"))
    kite.tick(100.0)
    with pytest.raises(BrokerRejected):
        kite.broker.modify(ack.broker_order_id, price=99.0)
    with pytest.raises(BrokerRejected):
        kite.broker.cancel(ack.broker_order_id)


def test_partial_fills_arrive_once_each_then_the_order_completes(make_kite):
    h = make_kite(partial_fill_qty=4)
    h.tick(100.0)
    h.broker.place(req("EPARTIAL1", order_type="MARKET", qty=10))
    h.tick(100.0)
    first = h.broker.poll_events()
    assert [type(e) for e in first] == [BrokerTrade, BrokerOrder]
    assert first[1].status == sm.PARTIALLY_FILLED and first[1].filled_qty == 4
    h.ticks([100.0, 100.0])
    rest = h.broker.poll_events()
    assert [e.qty for e in rest if isinstance(e, BrokerTrade)] == [4, 2]
    assert [e.status for e in rest if isinstance(e, BrokerOrder)] == [sm.FILLED]
    assert h.broker.poll_events() == []
    assert len({t.trade_id for t in h.broker.trades()}) == 3


def test_the_trade_book_is_read_only_when_an_order_filled_more(kite):
    kite.broker.place(req("EQUIET1", price=95.0))
    kite.broker.poll_events()
    kite.broker.poll_events()
    assert kite.server.count("GET", "/trades") == 0
    kite.tick(94.0)
    kite.broker.poll_events()
    assert kite.server.count("GET", "/trades") == 1


def test_poll_events_reads_the_order_book_at_most_once_per_interval(make_kite):
    h = make_kite(poll_interval_ms=500)
    h.broker.poll_events()
    h.broker.poll_events()
    assert h.server.count("GET", "/orders") == 1
    h.clock.advance(0.5)
    h.broker.poll_events()
    assert h.server.count("GET", "/orders") == 2


def test_orders_placed_by_hand_are_neither_reported_as_events_nor_listed_as_ours(kite):
    sdk(kite).place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "LIMIT", price=90.0)
    assert kite.broker.poll_events() == []
    assert kite.broker.orders() == [] and kite.broker.bad_rows == 0


def test_a_restarted_adapter_finds_orders_and_names_the_owner_of_every_trade(kite):
    kite.tick(100.0)
    ack = kite.broker.place(req("EOWNER1", order_type="MARKET"))
    kite.tick(100.0)
    broker = kite.reopen()
    (trade,) = broker.trades()
    assert (trade.client_order_id, trade.broker_order_id) == ("EOWNER1", ack.broker_order_id)
    assert broker.find_by_client_id("EOWNER1").status == sm.FILLED


def test_positions_reconcile_with_the_exchange_after_a_round_trip(kite):
    kite.tick(100.0)
    kite.broker.place(req("EROUND1", order_type="MARKET", qty=10))
    kite.tick(100.0)
    kite.broker.place(req("EROUND2", side=-1, order_type="LIMIT", qty=6, price=101.0))
    kite.tick(101.5)
    (position,) = kite.broker.positions()
    assert position == kite.server.exchange.paper.positions()[0]
    assert (position.qty, position.avg_price, position.realised_pnl_inr) == (4, 100.0, 6.0)


def test_a_server_restart_on_the_same_journal_keeps_every_order(make_kite):
    h = make_kite()
    ack = h.broker.place(req("EDURABLE1", price=95.0))
    h.server.stop()
    h.server = KiteLocalServer(port=int(h.settings.root.rsplit(":", 1)[1]),
                               instruments=h.table.rows, paper_journal=h.journal).start()
    found = h.broker.find_by_client_id("EDURABLE1")
    assert found.broker_order_id == ack.broker_order_id and found.status == sm.ACCEPTED
