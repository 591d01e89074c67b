"""Kite rows → OTrade records, over real Kite response samples (ours, and /work/shared's if
present)."""

import datetime as dt
import json
import pathlib

import pytest

from orders import statemachine as sm
from orders.brokers.kite import parse

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "kite"   # tests/orders/fixtures/kite
SHARED = pathlib.Path(__file__).resolve().parents[5] / "shared" / "fixtures" / "kite"


class TokenTable:
    """The slice of InstrumentTable that parsing uses: token → row index."""

    def __init__(self, tokens):
        self._rows = {int(t): i for i, t in enumerate(tokens)}

    def index_of_token(self, token):
        return self._rows[int(token)]


def load(name: str, folder: pathlib.Path = FIXTURES):
    return json.loads((folder / name).read_text())["data"]


def table_for(rows) -> TokenTable:
    return TokenTable(sorted({r["instrument_token"] for r in rows}))


def test_order_statuses_map_onto_otrade_statuses():
    assert parse.otrade_status("OPEN") == sm.ACCEPTED
    assert parse.otrade_status("OPEN", filled_qty=3) == sm.PARTIALLY_FILLED
    assert parse.otrade_status("TRIGGER PENDING") == sm.ACCEPTED
    assert parse.otrade_status("COMPLETE", 10) == sm.FILLED
    assert parse.otrade_status("CANCELLED", 4) == sm.CANCELED
    assert parse.otrade_status("REJECTED") == sm.REJECTED
    assert parse.otrade_status("CANCEL PENDING") == sm.CANCEL_PENDING
    for transitional in (
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "MODIFIED",
        "AMO REQ RECEIVED",
    ):
        assert parse.otrade_status(transitional) == sm.ACCEPTED


def test_every_status_in_the_order_history_sample_is_a_working_order():
    history = load("order_info.json")
    assert [parse.otrade_status(r["status"], r["filled_quantity"]) for r in history] == \
        [sm.ACCEPTED] * len(history)


def test_ist_strings_and_naive_datetimes_become_the_same_epoch_ns():
    expected = int(dt.datetime(2021, 5, 31, 3, 46, 39, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    assert parse.ist_to_ns("2021-05-31 09:16:39") == expected
    assert parse.ist_to_ns(dt.datetime(2021, 5, 31, 9, 16, 39)) == expected
    assert parse.ns_to_ist(expected) == "2021-05-31 09:16:39"
    assert parse.ist_to_ns(None) == 0 and parse.ist_to_ns("09:16:39") == 0


def test_order_book_sample_parses_with_tags_as_client_ids():
    rows = load("orders.json")
    orders = [parse.order_from_row(r, table_for(rows)) for r in rows]
    by_id = {o.broker_order_id: o for o in orders}
    rejected = by_id["220524001859672"]
    assert rejected.status == sm.REJECTED and rejected.client_order_id == "icebergord"
    assert "Insufficient funds" in rejected.reason
    filled = [o for o in orders if o.status == sm.FILLED]
    assert all(o.filled_qty == o.qty and o.avg_price > 0 for o in filled)
    assert by_id["100000000000000"].side == 1 and by_id["100000000000000"].price == 72.0
    # An autoslice child carries no tag of ours: it is nobody's client order.
    assert by_id["1953367517686685697"].client_order_id == ""


def test_order_rows_for_instruments_outside_the_table_are_skipped():
    rows = load("orders.json")
    assert parse.order_from_row(rows[0], TokenTable([1, 2, 3])) is None


def test_trade_sample_parses_with_client_ids_from_the_order_book():
    rows = load("trades.json")
    trades = [parse.trade_from_row(r, table_for(rows), {"200000000000000": "EOURS"}) for r in rows]
    first = trades[0]
    assert (first.trade_id, first.broker_order_id, first.client_order_id) == \
        ("10000000", "200000000000000", "EOURS")
    assert (first.side, first.qty, first.price) == (1, 1, 420.65)
    assert first.ts_event_ns == parse.ist_to_ns("2021-05-31 09:16:39")
    assert all(t.client_order_id == "" for t in trades[1:])


def test_positions_sample_gives_the_day_bucket_per_instrument():
    data = load("positions.json")
    table = table_for(data["day"] + data["net"])
    positions = {p.symbol: p for p in parse.positions_from_data(data, table)}
    gold = positions["GOLDGUINEA17DECFUT"]
    assert (gold.qty, gold.avg_price) == (-3, 23340.0)
    # 1 bought at 23388, 1 of the 4 sold at 23340 closed it: a 48 rupee loss.
    assert gold.realised_pnl_inr == pytest.approx(-48.0)
    assert positions["SBIN"].qty == 0 and positions["SBIN"].avg_price == 0.0


def test_positions_of_one_instrument_under_two_products_are_summed():
    row = {
        "instrument_token": 7,
        "tradingsymbol": "X",
        "quantity": 10,
        "average_price": 100.0,
        "day_buy_quantity": 10,
        "day_buy_price": 100.0,
        "day_sell_quantity": 0,
        "day_sell_price": 0,
    }
    other = dict(row, quantity=-4, average_price=0.0, day_buy_quantity=0, day_buy_price=0,
                 day_sell_quantity=4, day_sell_price=105.0)
    (p,) = parse.positions_from_data({"day": [row, other]}, TokenTable([7]))
    assert (p.qty, p.avg_price, p.realised_pnl_inr) == (6, 100.0, 0.0)


def test_response_samples_for_writes_carry_the_ids_the_adapter_reads():
    assert load("order_response.json")["order_id"] == "151220000000000"
    assert load("order_modify.json")["order_id"] == "151220000000000"
    assert load("order_cancel.json")["order_id"] == "151220000000000"
    assert load("gtt_place_order.json")["trigger_id"] == 123
    assert load("gtt_delete_order.json")["trigger_id"] == 123
    children = load("autoslice_response.json")["children"]
    assert [("order_id" in c, c.get("error", {}).get("error_type")) for c in children][2] == \
        (False, "MarginException")


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/fixtures/kite is not beside the repository"
)
@pytest.mark.parametrize(
    "name", ["orders.json", "order_info.json", "trades.json", "order_trades.json"]
)
def test_shared_samples_parse_without_losing_a_row(name):
    rows = load(name, SHARED)
    table = table_for(rows)
    if "trade_id" in rows[0]:
        parsed = [parse.trade_from_row(r, table, {}) for r in rows]
        assert all(t.qty > 0 and t.side in (1, -1) and t.ts_event_ns > 0 for t in parsed)
    else:
        parsed = [parse.order_from_row(r, table) for r in rows]
        assert all(o.status in sm.STATUSES and o.side in (1, -1) for o in parsed)
    assert len(parsed) == len(rows)


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/fixtures/kite is not beside the repository"
)
def test_shared_positions_sample_parses_both_buckets():
    data = load("positions.json", SHARED)
    table = table_for(data["day"] + data["net"])
    assert len(parse.positions_from_data(data, table)) == len(data["day"])
    assert len(parse.positions_from_data(data, table, bucket="net")) == len(data["net"])
