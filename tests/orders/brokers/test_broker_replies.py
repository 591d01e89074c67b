"""Malformed broker replies, through the real SDKs against the local Kite and Upstox venues.

The venues serve planted rows after their own (`plant`) or a whole planted body
(`fail_next("reply")`): a bad row of ours is counted and skipped while the good rows still read, a
row that is not ours is ignored whatever it holds, and a reply of the wrong shape is a
BrokerRetryable that names the endpoint, never a ValueError / KeyError / TypeError / AttributeError
out of the adapter.
"""

import copy

import orjson
import pytest

from common.errors import BrokerRetryable
from common.messages import OrderFilled, OrderSubmitting
from orders.brokers.base import OrderRequest
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.brokers.kite.kite_support import make_kite  # noqa: F401 - fixture
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, of_type
from tests.orders.brokers.upstox.upstox_support import make_upstox  # noqa: F401 - fixture

ROUTES = {
    "kite": {
        "orders": "GET /orders",
        "trades": "GET /trades",
        "positions": "GET /portfolio/positions",
        "place": "POST /orders/regular",
    },
    "upstox": {
        "orders": "GET /v2/order/retrieve-all",
        "trades": "GET /v2/order/trades/get-trades-for-day",
        "positions": "GET /v2/portfolio/short-term-positions",
        "place": "POST /v3/order/place",
    },
}
# A row of ours made bad in one way, per broker: (case, change(row) -> the planted row).
POISON = {
    "kite": [("quantity_ten", lambda r: r | {"quantity": "ten"}),
             ("no_order_id", lambda r: {k: v for k, v in r.items() if k != "order_id"}),
             ("instrument_token_abc", lambda r: r | {"instrument_token": "abc"}),
             ("tags_not_a_list", lambda r: r | {"tags": {}}),
             ("string_row", lambda r: "not a row"),
             ("null_row", lambda r: None)],
    "upstox": [("quantity_ten", lambda r: r | {"quantity": "ten"}),
               ("no_order_id", lambda r: {k: v for k, v in r.items() if k != "order_id"}),
               ("instrument_token_number", lambda r: r | {"instrument_token": 123}),
               ("string_row", lambda r: "not a row"),
               ("null_row", lambda r: None)],
}
CASES = [(name, case, change) for name in POISON for case, change in POISON[name]]


def account(request, name):
    return request.getfixturevalue(f"make_{name}")()


def limit(coid, price=95.0):
    return OrderRequest(coid, 0, "SBIN", "NSE", 1, 10, "LIMIT", price)


def our_row(h, coid: str) -> dict:
    """The venue's own order-book row of our order `coid`, as it goes on the wire."""
    row = next(r for r in h.server.exchange.orders() if r.get("tag") == coid)
    return orjson.loads(orjson.dumps(row))


def twin(row: dict, coid: str) -> dict:
    """Another order (ours when `coid` can be a client id): the same row with its own tag(s) and
    id."""
    out = copy.deepcopy(row) | {"tag": coid, "order_id": str(row["order_id"]) + "9"}
    if "tags" in out:                                   # Kite repeats the tag in "tags"
        out["tags"] = [coid] if coid else []
    return out


@pytest.mark.parametrize("name, case, change", CASES, ids=[f"{n}-{c}" for n, c, _ in CASES])
def test_a_poison_row_of_ours_when_the_book_is_read_then_it_is_counted_and_skipped(
    request, name, case, change
):
    h = account(request, name)
    h.broker.place(limit("EGOOD1"))
    bad = change(twin(our_row(h, "EGOOD1"), "EBAD1"))
    h.server.plant(ROUTES[name]["orders"], [bad])
    assert [o.client_order_id for o in h.broker.orders()] == ["EGOOD1"]
    assert h.broker.find_by_client_id("EGOOD1").qty == 10
    assert [e.client_order_id for e in h.broker.poll_events()] == ["EGOOD1"]
    assert h.broker.bad_rows == 3 and h.broker.bad_rows_by_endpoint == {"orders": 3}


@pytest.mark.parametrize("name", ["kite", "upstox"])
def test_an_in_doubt_lookup_when_our_row_is_malformed_then_it_is_retryable_never_absent(
    request, name
):
    h = account(request, name)
    h.broker.place(limit("EGOOD1"))
    h.server.plant(
        ROUTES[name]["orders"], [twin(our_row(h, "EGOOD1"), "EBAD1") | {"quantity": "ten"}]
    )
    # None would mean "never received" and the engine would send EBAD1 again: a duplicate order.
    with pytest.raises(BrokerRetryable) as unknown:
        h.broker.find_by_client_id("EBAD1")
    assert unknown.value.code == "BadResponse" and "EBAD1" in str(unknown.value)
    assert h.broker.find_by_client_id("ENEVER1") is None
    h.server.plant(ROUTES[name]["orders"], [])  # the broker's row reads again
    assert (
        h.broker.find_by_client_id("EGOOD1") is not None
        and h.broker.find_by_client_id("EBAD1") is None
    )


@pytest.mark.parametrize("name", ["kite", "upstox"])
def test_lookups_sharing_one_read_leave_out_the_order_whose_row_is_malformed(request, name):
    # The engine asks about every order in doubt with one read: the malformed row's order cannot
    # be told from absent and is left out of the answer (it stays in doubt); the others answer.
    h = account(request, name)
    h.broker.place(limit("EGOOD1"))
    h.server.plant(
        ROUTES[name]["orders"], [twin(our_row(h, "EGOOD1"), "EBAD1") | {"quantity": "ten"}]
    )
    reads = h.server.count("GET", ROUTES[name]["orders"].split()[1])
    found = h.broker.find_by_client_ids(["EGOOD1", "EBAD1", "ENEVER1"])
    assert sorted(found) == ["EGOOD1", "ENEVER1"]
    assert found["EGOOD1"].qty == 10 and found["ENEVER1"] is None
    assert h.server.count("GET", ROUTES[name]["orders"].split()[1]) == reads + 1


# A row of ours whose instrument the table cannot place: null, or a token / key it does not hold.
UNPLACED = [("kite", None), ("kite", 987654321),
            ("upstox", None), ("upstox", "NSE_EQ|INE000X00000")]


@pytest.mark.parametrize("name, token", UNPLACED, ids=[f"{n}-{t}" for n, t in UNPLACED])
def test_a_lookup_when_our_row_names_an_instrument_outside_the_table_leaves_the_order_out(
        request, name, token):
    # Such a row passes validation and was dropped as "not our instrument", so the lookup answered
    # None — "never received" — and the engine would have sent the order a second time.
    h = account(request, name)
    h.broker.place(limit("EGOOD1"))
    h.server.plant(
        ROUTES[name]["orders"], [twin(our_row(h, "EGOOD1"), "EBAD1") | {"instrument_token": token}]
    )
    found = h.broker.find_by_client_ids(["EGOOD1", "EBAD1", "ENEVER1"])
    assert sorted(found) == ["EGOOD1", "ENEVER1"] and found["ENEVER1"] is None
    with pytest.raises(BrokerRetryable):
        h.broker.find_by_client_id("EBAD1")
    assert [o.client_order_id for o in h.broker.orders()] == ["EGOOD1"]


@pytest.mark.parametrize("name", ["kite", "upstox"])
def test_a_poison_row_not_ours_when_the_book_is_read_then_it_is_ignored_uncounted(request, name):
    h = account(request, name)
    h.broker.place(limit("EGOOD1"))
    row = our_row(h, "EGOOD1")
    foreign = [twin(row, "manual order!") | {"quantity": "ten", "instrument_token": "abc"},
               {k: v for k, v in twin(row, "").items() if k != "order_id"} | {"price": "lots"},
               twin(row, "A" * 21) | {"filled_quantity": -5}]
    h.server.plant(ROUTES[name]["orders"], foreign)
    assert [o.client_order_id for o in h.broker.orders()] == ["EGOOD1"]
    assert h.broker.bad_rows == 0


@pytest.mark.parametrize("name", ["kite", "upstox"])
def test_a_poison_trade_of_ours_when_trades_are_read_then_it_is_counted_and_the_good_ones_kept(
    request, name
):
    h = account(request, name)
    h.tick(100.0)
    h.broker.place(OrderRequest("EFILL1", 0, "SBIN", "NSE", 1, 10, "MARKET"))
    h.tick(100.0)
    (good,) = h.server.exchange.trades()
    good = orjson.loads(orjson.dumps(good))
    ours_bad = good | {"trade_id": "T-BAD", "quantity": "ten"}
    not_ours = good | {"trade_id": "T-OTHER", "order_id": "1", "average_price": "cheap"}
    h.server.plant(ROUTES[name]["trades"], [ours_bad, not_ours, "not a row"])
    (trade,) = h.broker.trades()
    assert (trade.client_order_id, trade.qty) == ("EFILL1", 10)
    assert h.broker.bad_rows_by_endpoint == {"trades": 2}      # ours_bad and the string


@pytest.mark.parametrize("name", ["kite", "upstox"])
def test_a_poison_position_row_when_positions_are_read_then_it_is_counted_and_skipped(
    request, name
):
    h = account(request, name)
    h.tick(100.0)
    h.broker.place(OrderRequest("EFILL1", 0, "SBIN", "NSE", 1, 10, "MARKET"))
    h.tick(100.0)
    if name == "kite":     # positions are an object of buckets: plant into the day bucket's answer
        day = h.server.exchange.positions()["day"]
        body = {
            "status": "success",
            "data": {"net": [], "day": day + [day[0] | {"quantity": "ten"}, "x"]},
        }
        h.server.fail_next("reply", route=ROUTES[name]["positions"], body=orjson.dumps(body))
    else:
        row = h.server.exchange.positions()[0]
        h.server.plant(ROUTES[name]["positions"], [row | {"quantity": "ten"}, "x"])
    (position,) = h.broker.positions()
    assert position.qty == 10
    assert h.broker.bad_rows_by_endpoint == {"positions": 2}


WRONG_SHAPES = [("null", None), ("object", {}), ("string", "orders")]


@pytest.mark.parametrize("name", ["kite", "upstox"])
@pytest.mark.parametrize("endpoint", ["orders", "trades"])
@pytest.mark.parametrize("shape, data", WRONG_SHAPES, ids=[s for s, _ in WRONG_SHAPES])
def test_a_book_reply_of_the_wrong_shape_is_retryable_and_names_the_endpoint(
    request, name, endpoint, shape, data
):
    h = account(request, name)
    body = orjson.dumps({"status": "success", "data": data})
    h.server.fail_next("reply", route=ROUTES[name][endpoint], body=body)
    with pytest.raises(BrokerRetryable) as bad:
        getattr(h.broker, endpoint)()
    assert bad.value.code == "BadResponse"
    assert f"{name} {endpoint}" in str(bad.value) and "expected a list" in str(bad.value)


@pytest.mark.parametrize("name", ["kite", "upstox"])
@pytest.mark.parametrize("data", [None, "ok", {}, {"order_id": None}, {"order_ids": []}],
                         ids=["null", "string", "empty", "null_id", "no_ids"])
def test_a_placement_reply_without_an_order_id_is_retryable_outcome_unknown(request, name, data):
    h = account(request, name)
    h.server.fail_next("reply", route=ROUTES[name]["place"],
                       body=orjson.dumps({"status": "success", "data": data}))
    with pytest.raises(BrokerRetryable) as unknown:
        h.broker.place(limit("EREPLY1"))
    assert unknown.value.code == "BadResponse" and "outcome unknown" in str(unknown.value)


def _tick_both(h, tape: Tape, engine, price: float, intents=()) -> None:
    start = tape.add(0, price)
    ticks = tape.array(start)
    h.server.on_ticks(ticks)
    engine.advance(ticks, list(intents))
    engine.poll_broker()


@pytest.mark.parametrize("name", ["kite", "upstox"])
def test_orders_restarted_with_a_poison_row_in_the_book_recovers_and_trades(request, name):
    h = account(request, name)
    rows = h.table.rows if name == "kite" else h.server.exchange.rows
    limits = limits_of(enforce_session=False, leg_prices="signal")
    events: list = []
    engine = OrderEngine(rows, limits, FeeSchedule("zerodha"), h.broker, events.append)
    tape = Tape()
    _tick_both(h, tape, engine, 100.0, [intent(1, qty=10)])
    _tick_both(h, tape, engine, 100.0)
    (entry,) = of_type(events, OrderSubmitting)
    assert of_type(events, OrderFilled)
    poison = [
        twin(our_row(h, entry.client_order_id), "EPOISON1") | {"quantity": "ten"},
        "row",
        None,
    ]
    h.server.plant(ROUTES[name]["orders"], poison)

    # orders restarted: fresh adapter and engine
    broker = h.reopen()
    journal = list(events)
    engine = OrderEngine(rows, limits, FeeSchedule("zerodha"), broker, events.append)
    engine.restore(journal)
    engine.resolve_in_doubt()                            # reads the poisoned book: no crash
    _tick_both(h, tape, engine, 100.0, [intent(tape.seq, qty=5, side=-1)])
    _tick_both(h, tape, engine, 100.0)
    exits = [
        m for m in of_type(events, OrderSubmitting) if m.client_order_id != entry.client_order_id
    ]
    assert len(exits) == 1 and exits[0].qty == 5
    filled = {m.client_order_id for m in of_type(events, OrderFilled)}
    assert filled == {entry.client_order_id, exits[0].client_order_id}
    tags = [r.get("tag") for r in h.server.exchange.orders()]
    assert sorted(tags) == sorted({entry.client_order_id, exits[0].client_order_id})   # none twice
    assert broker.bad_rows >= 3
