"""UpstoxOrderStream (Upstox's portfolio stream: order updates) against the local Upstox feed
server.

The decode is tested on Upstox's documented message; the client against the local server's portfolio
socket: an update pushed there comes out of `order_updates()` as the same JSON, malformed text is
counted and dropped, a dropped connection re-authorizes with backoff, and a refused token ends the
stream alone (never raised into the feed). Every test ends with the stream closed and its thread
gone.
"""

import pathlib
import threading
from types import SimpleNamespace

import orjson
import pytest

from common.errors import ConfigError
from config.schema import UpstoxBrokerConfig, UpstoxFeedConfig
from config.secrets import Secrets
from feed.sources import make_order_source
from feed.sources.upstox.orderstream import (
    MALFORMED,
    ORDER,
    OTHER,
    UpstoxOrderStream,
    UpstoxOrderStreamOptions,
    classify,
    order_update_message,
)
from feed.sources.upstox.source import LOCAL_ACCESS_TOKEN
from localvenue.feeds.upstox_feed import PORTFOLIO_PATH, UpstoxFeedServer
from tests.support import eventually

TOKEN = "upstox-local-access-token"
SAMPLE = (
    pathlib.Path(__file__).parent / "fixtures" / "upstox_portfolio_order_update.json"
).read_text()
WAIT_S = 15.0   # a bound on how long a condition may take, not a timing requirement
ROW = {
    "order_id": "260000000000001",
    "tag": "EOS1",
    "status": "complete",
    "instrument_token": "NSE_EQ|INE062A01020",
    "quantity": 10,
    "filled_quantity": 10,
    "average_price": 95.0,
    "transaction_type": "BUY",
}


# ---------------------------------------------------------------- decode

def test_classify_when_the_documented_order_message_arrives_then_it_is_kept_verbatim():
    assert classify(SAMPLE.encode()) == (ORDER, SAMPLE)
    assert classify(SAMPLE) == (ORDER, SAMPLE)


@pytest.mark.parametrize("kind", ["gtt_order", "position", "holding"])
def test_classify_when_another_update_type_arrives_then_it_is_not_an_order(kind):
    msg = dict(orjson.loads(SAMPLE), update_type=kind)
    assert classify(orjson.dumps(msg)) == (OTHER, "")


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe",
        b"not json",
        b"[1, 2]",
        b'"open"',
        b"{}",
        b'{"update_type": 7, "order_id": "1"}',
        b'{"update_type": "order"}',
        b'{"update_type": "order", "order_id": ""}',
        b'{"update_type": "order", "order_id": true}',
        b'{"update_type": "order", "order_id": {"a": 1}}',
    ],
    ids=[
        "not-utf8",
        "text",
        "list",
        "string",
        "empty",
        "bad-type",
        "no-id",
        "empty-id",
        "bool-id",
        "dict-id",
    ],
)
def test_classify_when_the_message_is_malformed_then_it_is_malformed_never_raised(payload):
    assert classify(payload) == (MALFORMED, "")


def test_order_update_message_is_the_book_row_with_the_stream_fields():
    msg = orjson.loads(order_update_message(ROW))
    assert msg["update_type"] == "order" and msg["instrument_key"] == ROW["instrument_token"]
    assert {k: msg[k] for k in ROW} == ROW and msg["user_id"] == msg["userId"]
    # no field the documented message lacks
    assert set(orjson.loads(SAMPLE)) >= set(msg) - set(ROW)


# ---------------------------------------------------------------- against the local server

@pytest.fixture
def server():
    srv = UpstoxFeedServer(access_token=TOKEN, tick_provider=lambda keys: [], interval_s=0.05,
                           ping_interval_s=0.2).start()
    yield srv
    srv.stop()


@pytest.fixture
def stream_on():
    started = []

    def start(srv, token=TOKEN, **options):
        options = {
            "watchdog_s": 3.0,
            "reconnect_initial_s": 0.05,
            "reconnect_max_delay_s": 1.0,
            **options,
        }
        options = UpstoxOrderStreamOptions.from_config(UpstoxFeedConfig(), UpstoxBrokerConfig(),
                                                       host=srv.url, **options)
        started.append(UpstoxOrderStream(token, options))
        started[-1].open()
        eventually(lambda: srv.open_connections == 1, WAIT_S, message="the stream connected")
        return started[-1]
    yield start
    for stream in started:
        stream.close()
    assert not [t for t in threading.enumerate() if t.name == "upstox-order-stream"], (
        "thread left running"
    )


def drained(stream, n):
    got = []
    eventually(
        lambda: got.extend(stream.order_updates()) or len(got) >= n, WAIT_S, message=f"{n} updates"
    )
    return got


def test_stream_when_the_venue_pushes_an_order_change_then_order_updates_returns_it(
    server, stream_on
):
    stream = stream_on(server)
    server.send_order_update(ROW)
    (update,) = drained(stream, 1)
    assert orjson.loads(update.payload) == orjson.loads(order_update_message(ROW))
    assert update.ts_recv_ns > 0 and update.ts_wall_ns > 0
    assert stream.order_updates() == [] and stream.stats.extra["order_updates"] == 1


def test_stream_when_text_is_malformed_or_not_an_order_then_it_is_counted_and_dropped(
    server, stream_on
):
    stream = stream_on(server)
    for text in (
        "not json",
        '{"update_type": "position", "quantity": 2}',
        '{"update_type": "order"}',
    ):
        server._broadcast(text)
    server.send_order_update(ROW)
    (update,) = drained(stream, 1)
    assert orjson.loads(update.payload)["order_id"] == ROW["order_id"]
    extra = stream.stats.extra
    assert (extra["unparsed_text"], extra["other_updates"], extra["order_updates"]) == (2, 1, 1)


def test_stream_when_the_connection_drops_then_it_reauthorizes_and_gets_later_updates(
    server, stream_on
):
    stream = stream_on(server)
    calls = server.authorize_calls
    server.drop_connections()
    eventually(lambda: server.authorize_calls > calls and server.open_connections == 1, WAIT_S,
               message="reconnected")
    server.send_order_update(ROW)
    assert len(drained(stream, 1)) == 1 and stream.stats.reconnects >= 1


def test_stream_when_a_quiet_connection_answered_our_ping_then_its_drop_does_not_grow_the_backoff(
    server, stream_on
):
    """No updates for a while is normal for this stream: a connection that lasted to our ping's pong
    worked, so repeated drops of such connections keep reconnecting at the first backoff step."""
    stream = stream_on(server, watchdog_s=0.6)
    for _ in range(3):
        pongs = stream.stats.extra["pongs"]
        eventually(lambda: stream.stats.extra["pongs"] > pongs, WAIT_S, message="a pong")
        calls = server.authorize_calls
        server.drop_connections()
        eventually(lambda: server.authorize_calls > calls and server.open_connections == 1, WAIT_S,
                   message="reconnected")
    assert stream._connection.backoff.failures <= 1 and stream.stats.extra["stream_failed"] == 0


def test_stream_when_the_socket_url_is_reused_for_market_data_then_the_server_refuses_it(server):
    """A code opens only the socket it was issued for (the market feed's and this one are apart)."""
    import websocket

    from feed.sources.upstox.auth import authorize_feed

    url = authorize_feed(
        server.url, TOKEN, 2.0, "/v2/feed/portfolio-stream-feed/authorize?update_types=order"
    )
    assert PORTFOLIO_PATH in url
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(
            url.replace(PORTFOLIO_PATH, "/v3/feed/market-data-feed"), timeout=2
        )


def test_stream_when_the_token_is_refused_then_the_stream_ends_alone_and_logs_no_token(
    server, caplog
):
    options = UpstoxOrderStreamOptions.from_config(UpstoxFeedConfig(), UpstoxBrokerConfig(),
                                                   host=server.url, reconnect_initial_s=0.05)
    stream = UpstoxOrderStream("wrong-token", options)
    stream.open()
    try:
        eventually(
            lambda: stream.stats.extra["stream_failed"] == 1, WAIT_S, message="the stream ended"
        )
        assert "401" in stream.failure and stream.order_updates() == []
        assert "wrong-token" not in caplog.text and "wrong-token" not in repr(stream)
    finally:
        stream.close()


# ---------------------------------------------------------------- from config

def fake_config(broker="upstox", order_updates=True, local_server=True):
    return SimpleNamespace(
        feed=SimpleNamespace(
            source="replay", upstox=UpstoxFeedConfig(order_updates=order_updates, watchdog_s=2.0)
        ),
        broker=SimpleNamespace(
            name=broker,
            upstox=UpstoxBrokerConfig(
                host="http://127.0.0.1:9", local_server=local_server, timeout_s=3.0
            ),
        ),
    )


def test_make_order_source_when_the_broker_is_upstox_then_the_stream_runs_beside_any_tick_source():
    tick_source = SimpleNamespace(name="replay")
    stream = make_order_source(fake_config(), Secrets(), tick_source)
    assert isinstance(stream, UpstoxOrderStream) and stream._access_token == LOCAL_ACCESS_TOKEN
    assert (stream.options.host, stream.options.watchdog_s, stream.options.authorize_timeout_s) == \
        ("http://127.0.0.1:9", 2.0, 3.0)
    assert make_order_source(fake_config(order_updates=False), Secrets(), tick_source) is None
    assert make_order_source(fake_config(broker="kite"), Secrets(), tick_source) is None
    kite_like = SimpleNamespace(name="kite", order_updates=list)
    assert make_order_source(fake_config(broker="kite"), Secrets(), kite_like) is kite_like
    with pytest.raises(ConfigError, match="UPSTOX_ACCESS_TOKEN"):
        make_order_source(fake_config(local_server=False), Secrets(), tick_source)
