"""Upstox order updates (the portfolio stream's pushes) against the local Upstox server: each
becomes the events polling would give, once, whichever of the stream and the poll sees it first.

The updates are the local exchange's own (`LocalUpstoxExchange.on_order_change`: the order-book rows
Upstox would push), encoded as the stream sends them and handed to the adapter as feed forwards them
(JSON text). The harness clock is fake, so "the next poll is not due" is a fact of the test, not a
race.
"""

import pathlib

import orjson
import pytest

from common.messages import OrderAccepted, OrderFilled, OrderSubmitting
from feed.sources.upstox.orderstream import order_update_message
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerTrade, OrderRequest
from orders.brokers.upstox import parse
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, of_type
from tests.orders.brokers.upstox.upstox_support import ROWS, make_upstox  # noqa: F401 - fixture

LONG_POLL_MS = 60_000     # the order book is read once, at the first poll_events, then not for 60 s
SAMPLE = (
    pathlib.Path(__file__).parents[3]   # tests/
    / "feed"
    / "fixtures"
    / "upstox_portfolio_order_update.json"
)


def limit(coid, price=95.0, qty=10, side=1):
    return OrderRequest(coid, 0, "SBIN", "NSE", side, qty, "LIMIT", price)


class Account:
    """An UpstoxHarness whose exchange's pushed order updates are collected in `pushed`."""

    def __init__(self, harness):
        self.h, self.broker, self.pushed = harness, harness.broker, []
        harness.server.exchange.on_order_change = self.pushed.append

    def deliver(self, *rows) -> None:
        """Hand pushed rows to the adapter as the stream sends them and feed forwards them."""
        for row in rows or self.take():
            self.broker.on_order_update(order_update_message(row))

    def take(self) -> list[dict]:
        rows, self.pushed[:] = list(self.pushed), []
        return rows

    def book_reads(self) -> int:
        return self.h.server.count("GET", "/v2/order/retrieve-all")

    def counts(self) -> dict:
        return self.broker.order_update_counts()


@pytest.fixture
def account(make_upstox):  # noqa: F811
    acct = Account(make_upstox(poll_interval_ms=LONG_POLL_MS))
    assert acct.broker.poll_events() == []          # the first poll: the next is 60 s away
    return acct


def test_the_venue_pushes_a_placement_as_upstox_does_starting_with_put_order_req_received(account):
    account.broker.place(limit("UPLACE1"))
    assert [r["status"] for r in account.pushed] == ["put order req received", "open"]
    assert all(r["tag"] == "UPLACE1" for r in account.pushed)
    account.deliver()
    (order,) = account.broker.poll_events()         # both are ACCEPTED: one event
    assert (order.client_order_id, order.status) == ("UPLACE1", sm.ACCEPTED)
    assert (account.counts()["applied"], account.counts()["duplicate"]) == (1, 1)


def test_a_pushed_fill_is_reported_once_before_the_next_poll_is_due(account):
    ack = account.broker.place(limit("UPUSH1"))
    account.take()
    account.h.tick(94.9)
    (row,) = account.pushed
    assert (row["status"], row["filled_quantity"], row["tag"]) == ("complete", 10, "UPUSH1")
    reads = account.book_reads()
    account.deliver()
    trade, order = account.broker.poll_events()
    assert isinstance(trade, BrokerTrade) and (trade.client_order_id, trade.qty, trade.price) == (
        "UPUSH1",
        10,
        95.0,
    )
    assert isinstance(order, BrokerOrder) and (order.broker_order_id, order.status) == (
        ack.broker_order_id,
        sm.FILLED,
    )
    assert account.book_reads() == reads  # learned from the stream, not from a poll
    assert account.counts() == {
        "received": 1,
        "applied": 1,
        "duplicate": 0,
        "ignored": 0,
        "malformed": 0,
        "fills": 1,
        "dropped": 0,
    }
    account.h.clock.advance(LONG_POLL_MS / 1000 + 1)
    assert account.broker.poll_events() == []       # the poll sees the same order: nothing twice
    assert account.book_reads() == reads + 1
    account.deliver(row)                            # and the stream repeats itself: nothing twice
    assert account.broker.poll_events() == [] and account.counts()["duplicate"] == 1


def test_a_fill_the_poll_reported_first_is_a_counted_duplicate_when_pushed(account):
    account.broker.place(limit("UPOLLED1"))
    account.take()
    account.h.tick(94.9)
    account.h.clock.advance(LONG_POLL_MS / 1000 + 1)
    assert [type(e) for e in account.broker.poll_events()] == [BrokerTrade, BrokerOrder]
    account.deliver()
    assert account.broker.poll_events() == []
    assert (account.counts()["duplicate"], account.counts()["applied"]) == (1, 0)


def test_updates_overtaken_by_newer_ones_are_not_reported(make_upstox):  # noqa: F811
    account = Account(make_upstox(poll_interval_ms=LONG_POLL_MS, partial_fill_qty=10))
    account.broker.poll_events()
    account.broker.place(limit("USTALE1", qty=30))
    placed = account.take()
    account.h.tick(94.9)
    partial = account.take()
    account.h.ticks([94.9, 94.9])
    complete = account.take()
    account.deliver(*complete, *partial, *placed)   # the final state first, then the older ones
    events = account.broker.poll_events()
    assert [e.status for e in events if isinstance(e, BrokerOrder)] == [sm.FILLED]
    assert sum(e.qty for e in events if isinstance(e, BrokerTrade)) == 30


def test_a_pushed_cancel_arrives_as_the_order_state(account):
    ack = account.broker.place(limit("UCANCEL1"))
    account.take()
    account.broker.cancel(ack.broker_order_id)
    account.deliver()
    (canceled,) = account.broker.poll_events()
    assert (canceled.client_order_id, canceled.status) == ("UCANCEL1", sm.CANCELED)


def test_updates_for_orders_that_are_not_ours_are_ignored_and_counted(account):
    exchange = account.h.server.exchange
    for tag in (None, "OTHERAPP1"):
        exchange.place(
            {
                "instrument_token": "NSE_EQ|INE062A01020",
                "transaction_type": "BUY",
                "quantity": 5,
                "product": "I",
                "order_type": "LIMIT",
                "validity": "DAY",
                "price": 95.0,
                "tag": tag,
            }
        )
    account.deliver()
    assert account.broker.poll_events() == []
    assert (account.counts()["ignored"], account.counts()["applied"]) == (4, 0)


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[1, 2]",
        '"complete"',
        "{}",
        '{"update_type": "order", "order_id": ""}',
        '{"update_type": "position", "order_id": "1", "tag": "UX1", "instrument_token": '
        '"NSE_EQ|INE062A01020"}',
        '{"update_type": "order", "order_id": "1", "instrument_token": "NSE_EQ|INE062A01020", '
        '"quantity": "ten",'
        ' "tag": "UX1"}',
        '{"update_type": "order", "order_id": "1", "instrument_token": "NSE_EQ|INE062A01020", '
        '"filled_quantity": -1,'
        ' "tag": "UX1"}',
        '{"update_type": "order", "order_id": "1", "instrument_token": "NSE_EQ|UNKNOWN", "tag": '
        '"UX1"}',
    ],
    ids=[
        "text",
        "list",
        "string",
        "empty",
        "no-id",
        "position",
        "bad-number",
        "negative-fill",
        "unknown-instrument",
    ],
)
def test_a_malformed_update_is_ignored_and_counted_never_raised(account, payload):
    # a tag of ours, so only the payload is wrong
    assert account.broker.find_by_client_id("UX1") is None
    account.broker.on_order_update(payload)
    assert account.broker.poll_events() == []
    assert account.counts()["ignored"] == 1


def test_an_update_of_ours_that_does_not_validate_is_counted_as_malformed(account):
    account.broker.find_by_client_id("UX2")
    account.broker.on_order_update(
        '{"update_type": "order", "order_id": "1", "tag": "UX2", "quantity": "ten",'
        ' "instrument_token": "NSE_EQ|INE062A01020"}'
    )
    assert (account.counts()["ignored"], account.counts()["malformed"]) == (1, 1)


# ---------------------------------------------------------------- the documented message

def test_the_documented_order_message_parses_as_a_working_order_without_our_tag():
    order = parse.order_from_update(SAMPLE.read_text(), {"NSE_EQ|INE848E01016": 3})
    assert (
        order.broker_order_id,
        order.instrument,
        order.status,
        order.filled_qty,
        order.side,
        order.qty,
    ) == ("240221025997024", 3, sm.ACCEPTED, 0, 1, 1)
    assert order.client_order_id == ""                  # tag null: not an OTrade order


def test_the_documented_message_with_only_instrument_key_still_names_the_instrument():
    msg = dict(
        orjson.loads(SAMPLE.read_text()),
        instrument_token=None,
        tag="UOURS1",
        status="complete",
        filled_quantity=1,
        average_price=89.5,
    )
    order = parse.order_from_update(orjson.dumps(msg), {"NSE_EQ|INE848E01016": 0})
    assert (order.client_order_id, order.status, order.filled_qty, order.avg_price) == (
        "UOURS1",
        sm.FILLED,
        1,
        89.5,
    )


# ---------------------------------------------------------------- through the engine

def test_the_engine_emits_one_fill_for_a_fill_seen_by_the_stream_and_then_the_poll(account):
    events: list = []
    engine = OrderEngine(ROWS, limits_of(enforce_session=False), FeeSchedule("zerodha"),
                         account.broker, events.append)
    tape = Tape()
    tape.add(0, 95.0)
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
    account.deliver(*account.h.server.exchange.orders())   # and the stream repeats itself
    engine.poll_broker()
    assert len(of_type(events, OrderFilled)) == 1
