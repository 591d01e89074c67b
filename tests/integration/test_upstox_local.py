"""The whole pipeline against the local Upstox venue: Market Data Feed V3 and the portfolio stream's
order updates in, Upstox REST orders out."""

import os

import pytest

from localvenue.upstox.exchange import ORDER_ID_BASE
from tests.integration.example_run import read_jsonl, run_local_example

pytestmark = pytest.mark.slow


def test_the_upstox_local_example_trades_through_the_upstox_sdk_end_to_end(tmp_path):
    p, feed, orders = run_local_example(tmp_path, "upstox")
    print("feed", feed, "orders", orders)
    assert feed["ticks"] > 300 and feed["dropped_malformed"] == 0
    assert orders["orders"] > 0 and orders["fills"] > 0
    venue = read_jsonl(os.path.join(p.run_dir, "venue_upstox.jsonl"))
    placed = [r["coid"] for r in venue if r["k"] == "place"]
    sent = {r["client_order_id"] for r in read_jsonl(os.path.join(p.run_dir, "orders.jsonl"))
            if r["type"] == "OrderSubmitting"}
    # every order at the venue is one we journaled first
    assert placed and set(placed) <= sent
    assert len(placed) == len(set(placed))         # and none arrived twice
    fills = read_jsonl(os.path.join(p.run_dir, "fills.jsonl"))
    assert len(fills) == len({f["fill_id"] for f in fills})
    # Each fill came back through Upstox's trade book (numeric trade ids) for an order the venue
    # filled; the run may stop between a venue fill and the next poll, so the venue can hold a few
    # more.
    filled_at_venue = {str(ORDER_ID_BASE + int(r["boid"][1:])) for r in venue if r["k"] == "fill"}
    assert all(f["fill_id"].isdigit() for f in fills)
    assert {f["broker_order_id"] for f in fills} <= filled_at_venue
    # The portfolio stream ran beside the market feed: the venue pushed its order changes, feed
    # forwarded them, and fills reached orders through them before a poll saw them (a fill the poll
    # saw first would have made its update a duplicate instead); none was journaled twice (above).
    assert feed["order_updates"] > 0 and feed["dropped_text"] == 0
    assert orders["updates_applied"] > 0 and orders["update_fills"] > 0
    assert p.leftovers() == {"segments": [], "sockets": []}
