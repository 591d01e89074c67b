"""Order updates on the KiteTicker socket: parsed by KiteSource, forwarded on the bus for orders.

A KiteSource runs in a child process (this module with `--child`: the Twisted reactor runs once per
process) against the local ticker server on a thread of the test process, and forwards what it gets
with the feed stage's own `forward_order_updates` onto a real PUB socket; the test subscribes to it.
"""

import json
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import websocket  # websocket-client: a plain synchronous client for the server's own checks

from common import topics
from common.bus import Endpoints, Publisher, Subscriber, make_context
from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.messages import BrokerOrderUpdate
from feed.sources.kite.frames import KiteQuote
from localvenue.feeds.kite_ticker import KiteTickerServer
from tests.feed.child import SourceChild
from tests.support import eventually

TOKENS = [408065, 779521]
ACCESS_TOKEN = "local-access-token"
POSTBACK = json.loads((Path(__file__).parent / "fixtures" / "kite_postback.json").read_text())
# Text messages KiteSource must count and drop without forwarding, and without losing the socket.
MALFORMED = [
    "not json at all",
    "[1, 2, 3]",                                     # JSON, but not an object
    '{"data": {"order_id": "1"}}',                   # no "type"
    '{"type": "order", "data": "COMPLETE"}',         # an order that is not an object
    '{"type": "order", "data": {"status": "OPEN"}}',  # an order without an order_id
]


def instrument_rows(tokens):
    rows = np.zeros(len(tokens), INSTRUMENT_DTYPE)
    rows["token"] = tokens
    return rows


def child_main() -> int:
    """KiteSource + forward_order_updates, configured by stdin's first line; a JSON report per
    loop."""
    from config.schema import KiteFeedConfig
    from feed.sources.kite.source import KiteFeedOptions, KiteSource
    from feed.stage import forward_order_updates

    cfg = json.loads(sys.stdin.readline())
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    ctx = make_context()
    pub = Publisher(ctx, cfg["endpoint"], "feed")
    options = KiteFeedOptions.from_config(KiteFeedConfig(root=cfg["url"], watchdog_s=3.0))
    source = KiteSource("local-key", ACCESS_TOKEN, options)
    source.open(instrument_rows(TOKENS))
    out = np.zeros(4096, TICK_DTYPE)
    ticks = forwarded = 0
    while not stop.is_set():
        ticks += source.read(out, 0.05)
        forwarded += forward_order_updates(source, pub)
        print(
            json.dumps({"ticks": ticks, "forwarded": forwarded, "stats": source.stats.as_dict()}),
            flush=True,
        )
    source.close()
    pub.close()
    ctx.term()
    return 0


class FeedChild(SourceChild):
    """The test's side of the child: its latest report."""

    def __init__(self, url: str, endpoint: str):
        self.report = {"ticks": 0, "forwarded": 0, "stats": {}}
        super().__init__("tests.feed.test_kite_order_updates", {"url": url, "endpoint": endpoint})

    def on_report(self, report: dict) -> None:
        self.report = report

    def stat(self, key):
        return self.report["stats"].get(key, 0)


def provide(subscribed):
    return [
        KiteQuote(t, 100.0, last_qty=1, volume=1, exchange_ts=1_700_000_000) for t in subscribed
    ]


@pytest.fixture
def server():
    srv = KiteTickerServer(access_token=ACCESS_TOKEN, api_key="local-key", tick_provider=provide,
                           interval_s=0.05, heartbeat_s=0.2).start()
    yield srv
    srv.stop()


@pytest.fixture
def bus(tmp_path):
    """A zmq context and the endpoint the child publishes on; everything closed afterwards."""
    endpoints = Endpoints(str(tmp_path))
    ctx = make_context()
    yield ctx, endpoints.endpoint(topics.PUB_FEED)
    ctx.term()
    endpoints.cleanup()


@pytest.fixture
def feed_child(server, bus):
    ctx, endpoint = bus
    sub = Subscriber(ctx, endpoint, [topics.EVT_BROKER_ORDER])
    child = FeedChild(server.url, endpoint)
    yield child, sub
    child.stop()
    sub.close()


def received(sub, n: int) -> list:
    got = []

    def enough():
        while (item := sub.recv_nowait()) is not None:
            got.append(item)
        return len(got) >= n
    eventually(enough, timeout=20, message=f"{n} forwarded order updates")
    return got


def test_an_order_update_is_forwarded_as_a_broker_order_update_on_the_kite_topic(
    server, feed_child
):
    child, sub = feed_child
    eventually(lambda: child.report["ticks"] > 0, timeout=20, message="ticks from the ticker")
    server.send_order_update(POSTBACK)
    ((topic, msg),) = received(sub, 1)
    assert topic == topics.broker_order_topic("kite") and isinstance(msg, BrokerOrderUpdate)
    assert msg.broker == "kite" and json.loads(msg.payload) == POSTBACK
    assert msg.source == "feed" and msg.seq == 1 and msg.ts_recv_ns > 0 and msg.ts_event_ns > 0
    eventually(lambda: child.report["forwarded"] == 1 and child.stat("order_updates") == 1)


def test_malformed_text_is_counted_and_dropped_and_the_feed_keeps_streaming(server, feed_child):
    child, sub = feed_child
    eventually(lambda: child.report["ticks"] > 0, timeout=20, message="ticks from the ticker")
    for text in MALFORMED:
        server.send_text(text)
    server.send_text({"type": "error", "data": "Invalid mode"})
    server.send_text({"type": "message", "data": "Market closes early today"})
    server.send_order_update(POSTBACK)          # after all the bad ones: the only one forwarded
    ((_, msg),) = received(sub, 1)
    assert json.loads(msg.payload)["order_id"] == POSTBACK["order_id"]
    eventually(
        lambda: child.stat("unparsed_text") == len(MALFORMED), message="malformed text counted"
    )
    assert (
        child.stat("server_errors"),
        child.stat("broker_messages"),
        child.report["forwarded"],
    ) == (1, 1, 1)
    ticks = child.report["ticks"]
    eventually(
        lambda: child.report["ticks"] > ticks + 3, timeout=20, message="ticks after the bad text"
    )
    assert (
        server.connections_accepted == 1
        and child.stat("reconnects") == 0
        and child.proc.poll() is None
    )
    assert sub.recv_nowait() is None


def test_order_updates_keep_their_order(server, feed_child):
    child, sub = feed_child
    eventually(lambda: child.report["ticks"] > 0, timeout=20, message="ticks from the ticker")
    for n in range(1, 21):
        server.send_order_update(dict(POSTBACK, filled_quantity=n))
    got = received(sub, 20)
    assert [json.loads(m.payload)["filled_quantity"] for _, m in got] == list(range(1, 21))
    assert [m.seq for _, m in got] == list(range(1, 21))


def test_the_local_ticker_pushes_order_updates_as_kite_text_messages(server):
    ws = websocket.create_connection(
        f"{server.url}/?api_key=local-key&access_token={ACCESS_TOKEN}", timeout=5
    )
    try:
        eventually(lambda: server.open_connections == 1)
        server.send_order_update(POSTBACK)
        while isinstance(message := ws.recv(), bytes):   # heartbeats are binary
            pass
        assert json.loads(message) == {"type": "order", "data": POSTBACK}
    finally:
        ws.close()


def test_the_local_ticker_drops_an_order_update_once_stopped():
    srv = KiteTickerServer(access_token=ACCESS_TOKEN, tick_provider=provide).start()
    srv.stop()
    srv.send_order_update(POSTBACK)               # a local exchange may still call it: no error


if __name__ == "__main__" and "--child" in sys.argv:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(child_main())
