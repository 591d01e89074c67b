"""The local Kite server (localvenue/kite/server.py) speaks Kite's wire format: envelopes, auth,
rows shaped like the real ones."""

import json
import pathlib

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from orders.brokers.base import OrderRequest
from tests.orders.brokers.kite.kite_support import kite, make_kite  # noqa: F401 - fixtures

FIXTURES = pathlib.Path(__file__).parents[1] / "orders" / "fixtures" / "kite"   # real Kite samples


def real_keys(name: str, pick=lambda data: data[0]) -> set:
    return set(pick(json.loads((FIXTURES / name).read_text())["data"]))


def sdk(h, token="local-token") -> KiteConnect:
    return KiteConnect("local", access_token=token, root=h.server.url, timeout=2)


@pytest.fixture
def traded(kite):
    kite.tick(100.0)
    kite.broker.place(OrderRequest("EFORMAT1", 0, "SBIN", "NSE", 1, 10, "MARKET"))
    kite.tick(100.5)
    return kite


def test_order_rows_have_every_field_of_the_real_order_book(traded):
    (row,) = sdk(traded).orders()
    assert real_keys("orders.json") <= set(row)
    assert row["status"] == "COMPLETE" and row["tag"] == "EFORMAT1"


def test_trade_rows_have_every_field_of_the_real_trade_book(traded):
    (row,) = sdk(traded).trades()
    assert real_keys("trades.json") <= set(row)
    assert (row["quantity"], row["average_price"]) == (10, 100.5)


def test_position_rows_have_every_field_of_the_real_positions(traded):
    data = sdk(traded).positions()
    assert set(data) == {"net", "day"}
    assert real_keys("positions.json", lambda d: d["day"][0]) <= set(data["day"][0])


def test_open_and_trigger_pending_are_the_statuses_of_resting_orders(kite):
    kite.broker.place(OrderRequest("ERESTING1", 0, "SBIN", "NSE", 1, 1, "LIMIT", 95.0))
    kite.broker.place(OrderRequest("ERESTING2", 0, "SBIN", "NSE", -1, 1, "SL-M", 0.0, 90.0))
    assert [r["status"] for r in sdk(kite).orders()] == ["OPEN", "TRIGGER PENDING"]


def test_a_wrong_token_gets_kites_403_token_exception(kite):
    with pytest.raises(kex.TokenException) as refused:
        sdk(kite, token="nope").orders()
    assert refused.value.code == 403


def test_errors_come_in_kites_envelope_with_json_content_type(kite):
    answer = requests.get(f"{kite.server.url}/orders", timeout=2,
                          headers={"Authorization": "token local:local-token"})
    assert answer.status_code == 400 and "json" in answer.headers["Content-Type"]
    assert answer.json() == {"status": "error", "error_type": "InputException", "data": None,
                             "message": "Invalid or missing X-Kite-Version header."}


def test_an_unknown_route_is_a_404(kite):
    answer = requests.get(f"{kite.server.url}/user/margins", timeout=2)
    assert answer.status_code == 404 and answer.json()["error_type"] == "GeneralException"


def test_other_varieties_are_refused_as_input_errors(kite):
    with pytest.raises(kex.InputException):
        sdk(kite).place_order("amo", "NSE", "SBIN", "BUY", 1, "MIS", "LIMIT", price=95.0)


def test_order_history_and_order_trades_answer_for_one_order(traded):
    order_id = sdk(traded).orders()[0]["order_id"]
    assert [r["status"] for r in sdk(traded).order_history(order_id)] == ["COMPLETE"]
    assert [t["order_id"] for t in sdk(traded).order_trades(order_id)] == [order_id]


def test_failures_can_be_aimed_at_one_route_and_run_out(kite):
    kite.server.fail_next("500", n=2, route="GET /trades")
    assert sdk(kite).orders() == []
    for _ in range(2):
        with pytest.raises(kex.GeneralException):
            sdk(kite).trades()
    assert sdk(kite).trades() == []


def test_an_unknown_failure_mode_is_refused(kite):
    with pytest.raises(ValueError):
        kite.server.fail_next("teapot")
