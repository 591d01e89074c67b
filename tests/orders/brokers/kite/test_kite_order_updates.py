"""Kite order updates (KiteTicker's order messages) against the local Kite server: each becomes the
events polling would give, once, whichever of the socket and the poll sees it first.

The updates are the local exchange's own (`LocalExchange.on_order_change`: the rows Kite would
push), handed to the adapter as feed forwards them (JSON text). The harness clock is fake, so "the
next poll is not due" is a fact of the test, not a race.
"""

import json

import numpy as np
import orjson
import pytest
from kiteconnect import KiteConnect

from common.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitting,
)
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerTrade, OrderRequest
from orders.brokers.kite import parse
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.brokers.kite.kite_support import make_kite  # noqa: F401 - fixture
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, of_type
from tests.orders.brokers.kite.test_kite_parse import FIXTURES, SHARED, TokenTable

LONG_POLL_MS = 60_000     # the order book is read once, at the first poll_events, then not for 60 s


def limit(coid, price=95.0, qty=10, side=1):
    return OrderRequest(coid, 0, "SBIN", "NSE", side, qty, "LIMIT", price)


class Account:
    """A KiteHarness whose exchange's pushed order updates are collected in `pushed`."""

    def __init__(self, harness):
        self.h, self.broker, self.pushed = harness, harness.broker, []
        harness.server.exchange.on_order_change = self.pushed.append

    def deliver(self, *rows) -> None:
        """Hand pushed rows to the adapter as feed forwards them: the order object as JSON text."""
        for row in rows or self.take():
            self.broker.on_order_update(orjson.dumps(row).decode())

    def take(self) -> list[dict]:
        rows, self.pushed[:] = list(self.pushed), []
        return rows

    def book_reads(self) -> int:
        return self.h.server.count("GET", "/orders")

    def counts(self) -> dict:
        return self.broker.order_update_counts()


@pytest.fixture
def account(make_kite):  # noqa: F811
    acct = Account(make_kite(poll_interval_ms=LONG_POLL_MS))
    assert acct.broker.poll_events() == []          # the first poll: the next is 60 s away
    return acct


def test_a_pushed_fill_is_reported_before_the_next_poll_is_due(account):
    ack = account.broker.place(limit("EPUSH1"))
    # as on Kite: no update for an accepted placement
    assert account.pushed == []
    account.h.tick(94.9)
    (row,) = account.pushed
    assert (row["status"], row["filled_quantity"], row["tag"]) == ("COMPLETE", 10, "EPUSH1")
    reads = account.book_reads()
    account.deliver()
    trade, order = account.broker.poll_events()
    assert isinstance(trade, BrokerTrade) and (trade.client_order_id, trade.qty, trade.price) == (
        "EPUSH1",
        10,
        95.0,
    )
    assert isinstance(order, BrokerOrder) and (order.broker_order_id, order.status) == (
        ack.broker_order_id,
        sm.FILLED,
    )
    assert account.book_reads() == reads            # learned from the socket, not from a poll
    assert account.counts() == {"received": 1, "applied": 1, "duplicate": 0, "ignored": 0,
                                "malformed": 0, "fills": 1, "dropped": 0}
    account.h.clock.advance(LONG_POLL_MS / 1000 + 1)
    assert account.broker.poll_events() == []       # the poll sees the same order: nothing twice
    assert account.book_reads() == reads + 1


def test_an_update_after_the_poll_reported_it_is_a_counted_duplicate(account):
    account.broker.place(limit("EPOLLED1"))
    account.h.tick(94.9)
    account.h.clock.advance(LONG_POLL_MS / 1000 + 1)
    assert [type(e) for e in account.broker.poll_events()] == [BrokerTrade, BrokerOrder]
    account.deliver()
    assert account.broker.poll_events() == []
    assert (account.counts()["duplicate"], account.counts()["applied"]) == (1, 0)


def test_cancels_and_late_rejections_arrive_as_order_states(account):
    ack = account.broker.place(limit("ECANCEL1"))
    account.broker.cancel(ack.broker_order_id)
    account.deliver()
    (canceled,) = account.broker.poll_events()
    assert (canceled.client_order_id, canceled.status) == ("ECANCEL1", sm.CANCELED)
    # Placed around the adapter's own checks (the price is off the tick), so the exchange rejects
    # it; the adapter knows the tag because the engine asked about it (as it does for each of its
    # orders).
    assert account.broker.find_by_client_id("ELATE1") is None
    KiteConnect("local", access_token="local-token", root=account.h.server.url).place_order(
        "regular", "NSE", "SBIN", "BUY", 10, "MIS", "LIMIT", price=95.01, tag="ELATE1")
    account.deliver()
    (rejected,) = account.broker.poll_events()
    assert rejected.status == sm.REJECTED and "tick size" in rejected.reason


def test_updates_overtaken_by_newer_ones_are_not_reported(make_kite):  # noqa: F811
    account = Account(make_kite(poll_interval_ms=LONG_POLL_MS, partial_fill_qty=10))
    account.broker.poll_events()
    account.broker.place(limit("ESTALE1", qty=30))
    account.h.tick(94.9)
    first = account.take()
    account.h.ticks([94.9, 94.9])
    last = account.take()
    # the complete order, then the older partial state
    account.deliver(*last, *first)
    events = account.broker.poll_events()
    assert [e.status for e in events if isinstance(e, BrokerOrder)] == [sm.FILLED]
    assert sum(e.qty for e in events if isinstance(e, BrokerTrade)) == 30


def test_updates_for_orders_that_are_not_ours_are_ignored_and_counted(account):
    sdk = KiteConnect("local", access_token="local-token", root=account.h.server.url)
    # no tag
    sdk.place_order("regular", "NSE", "SBIN", "BUY", 5, "MIS", "LIMIT", price=95.0)
    sdk.place_order("regular", "NSE", "SBIN", "BUY", 5, "MIS", "LIMIT", price=95.0, tag="OTHERAPP1")
    account.h.tick(94.9)
    assert len(account.pushed) == 2
    account.deliver()
    assert account.broker.poll_events() == []
    assert (account.counts()["ignored"], account.counts()["applied"]) == (2, 0)


@pytest.mark.parametrize("payload", [
    "not json", "[1, 2]", '"COMPLETE"', "{}", '{"order_id": ""}',
    '{"order_id": "1", "instrument_token": 779521, "quantity": "ten", "tag": "EX1"}',
    '{"order_id": "1", "instrument_token": 779521, "tags": {"EX1": 1}}',
    '{"order_id": "1", "instrument_token": 1, "tag": "EX1"}',          # not one of our instruments
], ids=["text", "list", "string", "empty", "no-id", "bad-number", "bad-tags", "unknown-instrument"])
def test_a_malformed_update_is_ignored_and_counted_never_raised(account, payload):
    # a tag of ours, so only the payload is wrong
    assert account.broker.find_by_client_id("EX1") is None
    account.broker.on_order_update(payload)
    assert account.broker.poll_events() == []
    assert account.counts()["ignored"] == 1


# ---------------------------------------------------------------- through the engine

def engine_on(account, events: list) -> tuple[OrderEngine, Tape]:
    engine = OrderEngine(
        account.h.table.rows,
        limits_of(enforce_session=False),
        FeeSchedule("zerodha"),
        account.broker,
        events.append,
    )
    tape = Tape()
    tape.add(0, 95.0)
    return engine, tape


def test_the_engine_emits_one_fill_for_an_update_seen_by_the_socket_and_then_the_poll(account):
    events: list = []
    engine, tape = engine_on(account, events)
    engine.advance(tape.array(), [intent(1, order_type="LIMIT", limit_price=95.0)])
    (sub,) = of_type(events, OrderSubmitting)
    assert of_type(events, OrderAccepted)
    account.h.tick(94.9)
    account.deliver()
    engine.poll_broker()
    (fill,) = of_type(events, OrderFilled)
    assert (fill.client_order_id, fill.qty, fill.price) == (sub.client_order_id, sub.qty, 95.0)
    account.h.clock.advance(LONG_POLL_MS / 1000 + 1)
    engine.poll_broker()
    account.deliver(*account.h.server.exchange.orders())   # and the socket repeats itself
    engine.poll_broker()
    assert len(of_type(events, OrderFilled)) == 1 and not of_type(events, OrderRejected)


def test_the_engine_emits_one_cancel_for_a_cancel_seen_by_the_poll_and_then_the_socket(account):
    events: list = []
    engine, tape = engine_on(account, events)
    engine.advance(tape.array(), [intent(1, order_type="LIMIT", limit_price=95.0)])
    (accepted,) = of_type(events, OrderAccepted)
    account.h.server.exchange.cancel("regular", accepted.broker_order_id)   # canceled at the broker
    account.h.clock.advance(LONG_POLL_MS / 1000 + 1)
    engine.poll_broker()
    assert len(of_type(events, OrderCanceled)) == 1
    account.deliver()
    engine.poll_broker()
    assert len(of_type(events, OrderCanceled)) == 1 and account.counts()["duplicate"] == 1


# ---------------------------------------------------------------- real samples

def test_the_postback_sample_parses_as_a_filled_order_without_our_tag():
    sample = (FIXTURES / "postback.json").read_text()
    order = parse.order_from_update(sample, TokenTable([779521]))
    assert (order.broker_order_id, order.status, order.filled_qty, order.avg_price, order.side) == \
        ("220303000308932", sm.FILLED, 1, 470.0, 1)
    assert order.client_order_id == ""                  # tag null: not an OTrade order


def test_the_postback_sample_tagged_as_ours_is_an_order_update_like_any_other():
    row = dict(json.loads((FIXTURES / "postback.json").read_text()), tag="EOURS1", status="UPDATE",
               filled_quantity=0)
    order = parse.order_from_update(orjson.dumps(row), TokenTable([779521]))
    # UPDATE: still working
    assert (order.client_order_id, order.status) == ("EOURS1", sm.ACCEPTED)


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/fixtures/kite is not beside the repository"
)
@pytest.mark.parametrize("name", ["postback.json", "orders.json", "order_info.json"])
def test_shared_order_samples_parse_as_order_updates(name):
    doc = json.loads((SHARED / name).read_text())
    rows = doc["data"] if "data" in doc else [doc]
    table = TokenTable(sorted({r["instrument_token"] for r in rows}))
    parsed = [parse.order_from_update(orjson.dumps(r), table) for r in rows]
    assert all(o is not None and o.status in sm.STATUSES and o.side in (1, -1) for o in parsed)
    assert [o.broker_order_id for o in parsed] == [str(r["order_id"]) for r in rows]
    assert np.all([o.filled_qty <= o.qty for o in parsed])
