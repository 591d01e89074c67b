"""End to end against the local Kite venue: fills reach orders through the ticker socket
(venue -> KiteTicker text message -> feed -> bus -> orders) before orders' next poll of the order
book, and every fill is still journaled exactly once."""

import collections
import json
import os

import pytest

from tests.chaos.harness import Pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.slow


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_kite_fills_arrive_through_the_ticker_socket_once_each(tmp_path):
    with open(os.path.join(ROOT, "config", "examples", "kite-local.json")) as f:
        example = json.load(f)
    with Pipeline(tmp_path, example, args=["--duration", "10"]) as p:
        p.wait_running()
        code = p.wait_exit(timeout=120)
    assert code == 0, p.output()[-3000:]
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        stages = json.load(f)["stages"]
    feed, orders = stages["feed"]["counters"], stages["orders"]["counters"]
    print("feed", feed, "orders", orders)
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
    assert p.leftovers() == {"segments": [], "sockets": []}
