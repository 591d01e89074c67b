"""The whole pipeline against the local Kite venue: KiteTicker frames in, Kite REST orders out."""

import json
import os

import pytest

from tests.chaos.harness import Pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.slow


def test_the_kite_local_example_trades_through_the_kite_sdk_end_to_end(tmp_path):
    with open(os.path.join(ROOT, "config", "examples", "kite-local.json")) as f:
        example = json.load(f)
    with Pipeline(tmp_path, example, args=["--duration", "10"]) as p:
        p.wait_running()
        code = p.wait_exit(timeout=120)
    assert code == 0, p.output()[-3000:]
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        summary = json.load(f)
    feed, orders = summary["stages"]["feed"]["counters"], summary["stages"]["orders"]["counters"]
    assert feed["ticks"] > 1000 and feed["dropped_malformed"] == 0
    assert orders["orders"] > 0 and orders["fills"] > 0
    with open(os.path.join(p.run_dir, "venue_kite.jsonl")) as f:
        venue_orders = {json.loads(line)["coid"] for line in f if '"place"' in line}
    with open(os.path.join(p.run_dir, "orders.jsonl")) as f:
        sent = {r["client_order_id"] for r in map(json.loads, f) if r["type"] == "OrderSubmitting"}
    assert venue_orders and venue_orders <= sent       # every order at the venue is one we journaled first
    assert p.leftovers() == {"segments": [], "sockets": []}
