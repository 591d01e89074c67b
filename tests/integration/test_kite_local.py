"""The whole pipeline against the local Kite venue: KiteTicker frames in, Kite REST orders out."""

import os

import pytest

from tests.integration.example_run import read_jsonl, run_local_example

pytestmark = pytest.mark.slow


def test_the_kite_local_example_trades_through_the_kite_sdk_end_to_end(tmp_path):
    p, feed, orders = run_local_example(tmp_path, "kite")
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
