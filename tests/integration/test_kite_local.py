"""The whole pipeline against the local Kite venue: KiteTicker frames in, Kite REST orders out, and
fills pushed back through the ticker socket (venue -> KiteTicker text message -> feed -> bus ->
orders) before orders' next poll of the order book, each journaled exactly once. One run of the
example serves every test here."""

import collections
import os

import pytest

from tests.integration.example_run import read_jsonl, run_local_example

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kite_run(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        # module-scoped: the per-test account home (tests/conftest.py) is not set yet
        env.setenv("OTRADE_ACCOUNT_HOME", str(tmp_path_factory.mktemp("accounts")))
        return run_local_example(tmp_path_factory.mktemp("kite-local"), "kite")


def test_the_kite_local_example_trades_through_the_kite_sdk_end_to_end(kite_run):
    p, feed, orders = kite_run
    assert feed["ticks"] > 1000 and feed["dropped_malformed"] == 0
    assert orders["orders"] > 0 and orders["fills"] > 0
    venue_orders = {
        r["coid"]
        for r in read_jsonl(os.path.join(p.run_dir, "venue_kite.jsonl"))
        if r["k"] == "place"
    }
    sent = {r["client_order_id"] for r in read_jsonl(os.path.join(p.run_dir, "orders.jsonl"))
            if r["type"] == "OrderSubmitting"}
    # every order at the venue is one we journaled first
    assert venue_orders and venue_orders <= sent
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_kite_fills_arrive_through_the_ticker_socket_once_each(kite_run):
    p, feed, orders = kite_run
    assert feed["order_updates"] > 0 and feed["dropped_text"] == 0
    # A fill counted here was reported from a pushed update, i.e. before any poll saw it (a fill the
    # poll saw first would have made that update a duplicate instead).
    assert orders["fills"] > 0 and orders["update_fills"] > 0 and orders["updates_applied"] > 0
    fills = [
        r for r in read_jsonl(os.path.join(p.run_dir, "orders.jsonl")) if r["type"] == "OrderFilled"
    ]
    repeated = [k for k, n in collections.Counter(r["fill_id"] for r in fills).items() if n > 1]
    assert fills and repeated == []
    venue_fills = [
        r for r in read_jsonl(os.path.join(p.run_dir, "venue_kite.jsonl")) if r.get("k") == "fill"
    ]
    # nothing journaled that the venue did not fill
    assert len(fills) <= len(venue_fills)
