"""KiteSource against the local KiteTicker server, plus its parts (watchdog, hand-off, protocol,
server).

The source runs in a child process (this module run with `--child`), as it does in production: the
feed process owns the Twisted reactor, which can run only once per process, so no test here leaves a
reactor behind in the pytest process. The server runs on a thread of the test process, where the
test throws its failure switches.
"""

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import websocket  # websocket-client: a plain synchronous client for the server's own tests

from common.dtypes import FLAG_SNAPSHOT, INSTRUMENT_DTYPE, TICK_DTYPE
from common.errors import BrokerFatal, ConfigError
from config.schema import KiteFeedConfig
from feed.sources.handoff import TickHandoff
from feed.sources.kite.connection import is_auth_failure
from feed.sources.kite.frames import DepthLevel, KiteQuote
from feed.sources.kite.protocol import (
    mode_message,
    parse_client_request,
    parse_text_message,
    split_for_connections,
    subscribe_message,
    unsubscribe_message,
)
from feed.sources.kite.source import KiteFeedOptions, KiteSource
from feed.sources.watchdog import Watchdog
from localvenue.feeds.kite_ticker import KiteTickerServer
from tests.feed.child import SourceChild

TOKENS = [408065, 779521, 256265]          # INFY, SBIN (NSE), NIFTY 50 (index)
GOOD_TOKEN = "local-access-token"
POSTBACK = json.loads((Path(__file__).parent / "fixtures" / "kite_postback.json").read_text())


def eventually(predicate, timeout_s=20.0, what=""):
    """Poll `predicate` until it is true; fail after `timeout_s` (a bound, not a timing
    requirement)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"never became true: {what or predicate}")
        time.sleep(0.02)


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def instrument_rows(tokens):
    rows = np.zeros(len(tokens), INSTRUMENT_DTYPE)
    rows["token"] = tokens
    return rows


# -- watchdog, hand-off, protocol
# ---------------------------------------------------------------------

def test_watchdog_trips_once_after_silence_and_not_while_messages_arrive():
    clock = FakeClock()
    dog = Watchdog(5.0, clock)
    assert not dog.expired()              # not armed before the connection opens
    dog.arm()
    clock.t += 4.9
    dog.feed()
    clock.t += 4.9
    assert not dog.expired()
    clock.t += 0.2
    assert dog.expired() and not dog.expired() and dog.trips == 1
    dog.arm()
    dog.disarm()
    clock.t += 60
    assert not dog.expired()


def test_handoff_wraps_and_overwrites_the_oldest_rows_when_the_reader_falls_behind():
    hand = TickHandoff(4)
    rows = np.zeros(6, TICK_DTYPE)
    rows["price"] = np.arange(1, 7)
    out = np.zeros(8, TICK_DTYPE)
    hand.put(rows[:3])
    assert hand.take(out[:2], 0) == 2 and out["price"][:2].tolist() == [1, 2]
    hand.put(rows[3:6])                   # 3, 4, 5, 6 wrap around the end
    assert hand.take(out, 0) == 4 and out["price"][:4].tolist() == [3, 4, 5, 6]
    hand.put(rows)                        # six rows into four slots: 1 and 2 are lost
    assert hand.take(out, 0) == 4 and out["price"][:4].tolist() == [3, 4, 5, 6]
    assert hand.stats.extra["dropped_backlog"] == 2
    assert hand.take(out, 0.01) == 0


def test_handoff_wake_returns_a_waiting_reader():
    hand = TickHandoff(4)
    threading.Timer(0.05, hand.wake).start()
    assert hand.take(np.zeros(1, TICK_DTYPE), 30.0) == 0


def test_protocol_messages_are_what_the_server_parses():
    assert parse_client_request(subscribe_message([1, 2])) == ("subscribe", "", (1, 2))
    assert parse_client_request(mode_message("full", [2])) == ("mode", "full", (2,))
    assert parse_client_request(unsubscribe_message([1])) == ("unsubscribe", "", (1,))
    assert parse_client_request('{"a":"subscribe","v":["408065", true, 5]}').tokens == (5,)
    assert parse_client_request("not json") is None
    assert parse_client_request('{"a":"mode","v":["snap",[1]]}') is None
    with pytest.raises(ValueError):
        mode_message("snap", [1])


def test_text_messages_parse_into_order_updates_and_errors():
    assert parse_text_message(json.dumps({"type": "order", "data": POSTBACK})).data == POSTBACK
    assert parse_text_message('{"type":"error","data":"Invalid mode"}') == ("error", "Invalid mode")
    assert parse_text_message('{"type":"message","data":"hello"}').kind == "message"
    assert parse_text_message('{"type":"order","data":null}') is None
    assert parse_text_message(b"\xff garbage") is None


def test_tokens_are_dealt_into_connections_within_kite_limits():
    assert split_for_connections([5, 1, 5, 3, 2], per_connection=2) == [[1, 2], [3, 5]]
    with pytest.raises(ConfigError):
        split_for_connections(range(9001))
    with pytest.raises(ConfigError):
        split_for_connections([])


def test_auth_failure_is_recognised_from_the_sdk_close_reason():
    assert is_auth_failure(
        "connection was closed uncleanly (WebSocket connection upgrade failed (403 - Forbidden))"
    )
    assert not is_auth_failure("connection was closed uncleanly (peer dropped the TCP connection)")


def test_kite_source_refuses_tokens_outside_the_instrument_table_and_missing_credentials():
    with pytest.raises(ConfigError):
        options = KiteFeedOptions.from_config(KiteFeedConfig(), tokens=(1, 2))
        KiteSource("key", "token", options).open(instrument_rows([2, 3]))
    with pytest.raises(BrokerFatal):
        KiteSource("key", "")


def test_kite_source_refuses_a_table_whose_divisor_contradicts_the_token_segment():
    rows = instrument_rows([408065, 412675])     # NSE (paise) and CDS (1e-7 rupee)
    rows["segment_divisor"] = [100.0, 100.0]
    with pytest.raises(ConfigError, match="segment_divisor"):
        KiteSource("key", "token").open(rows)


def test_kite_source_from_config_uses_the_secrets_or_the_local_servers_fixed_pair():
    from types import SimpleNamespace

    from config.schema import KiteBrokerConfig
    from config.secrets import Secrets
    from feed.sources import make_source

    def config(local_server, root=None):
        feed = SimpleNamespace(
            source="kite", kite=KiteFeedConfig(root=root, mode="quote", watchdog_s=2.0)
        )
        return SimpleNamespace(
            feed=feed, broker=SimpleNamespace(kite=KiteBrokerConfig(local_server=local_server))
        )
    local = make_source(config(True, "ws://127.0.0.1:9"), Secrets())
    assert (local._api_key, local._access_token) == ("local", "local-token")
    assert (local.options.root, local.options.mode, local.options.watchdog_s) == (
        "ws://127.0.0.1:9",
        "quote",
        2.0,
    )
    live = KiteSource.from_config(
        config(False), Secrets({"KITE_API_KEY": "k", "KITE_ACCESS_TOKEN": "t"})
    )
    assert (live._api_key, live._access_token, live.options.root) == ("k", "t", None)
    with pytest.raises(ConfigError, match="KITE_ACCESS_TOKEN"):
        KiteSource.from_config(config(False), Secrets({"KITE_API_KEY": "k"}))
    with pytest.raises(ConfigError, match="feed.kite.root"):
        KiteSource.from_config(config(True), Secrets())


# -- the local server, spoken to with a plain websocket client
# --------------------------------------

def quotes_for(tokens):
    """A tick provider: every subscribed token trades a tick higher each interval."""
    counter = {"n": 0}

    def provide(subscribed):
        counter["n"] += 1
        price = 100 + 0.05 * counter["n"]
        return [
            KiteQuote(
                t,
                round(price, 2),
                last_qty=1,
                volume=counter["n"],
                exchange_ts=1_700_000_000,
                bids=(DepthLevel(round(price - 0.05, 2), 10),),
                asks=(DepthLevel(round(price + 0.05, 2), 10),),
            )
            for t in subscribed
            if t in tokens
        ]
    return provide


@pytest.fixture
def server():
    srv = KiteTickerServer(
        access_token=GOOD_TOKEN,
        api_key="local-key",
        tick_provider=quotes_for(set(TOKENS)),
        interval_s=0.05,
        heartbeat_s=0.2,
    ).start()
    yield srv
    srv.stop()


def ws_url(srv, token=GOOD_TOKEN):
    return f"{srv.url}/?api_key=local-key&access_token={token}"


def test_server_refuses_a_bad_access_token_with_403_before_the_upgrade(server):
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(ws_url(server, "wrong"), timeout=5)
    assert err.value.status_code == 403 and server.connections_rejected == 1


def test_server_start_on_a_taken_port_raises_and_leaves_nothing_running(server):
    clash = KiteTickerServer(
        port=server.port, access_token=GOOD_TOKEN, tick_provider=lambda tokens: []
    )
    with pytest.raises(OSError):
        clash.start()
    clash.stop()


def test_server_streams_each_token_in_its_mode_with_heartbeats(server):
    ws = websocket.create_connection(ws_url(server), timeout=5)
    try:
        ws.send(subscribe_message(TOKENS))
        ws.send(mode_message("full", [TOKENS[0]]))
        ws.send(mode_message("ltp", [TOKENS[1]]))
        eventually(
            lambda: (
                server.subscriptions == {TOKENS[0]: "full", TOKENS[1]: "ltp", TOKENS[2]: "quote"}
            )
        )
        lengths, heartbeats = set(), 0
        while heartbeats == 0 or len(lengths) < 3:
            frame = ws.recv()
            if len(frame) == 1:
                heartbeats += 1
                continue
            count, pos = int.from_bytes(frame[:2], "big"), 2
            for _ in range(count):
                size = int.from_bytes(frame[pos:pos + 2], "big")
                lengths.add(size)
                pos += 2 + size
        assert lengths == {184, 8, 28}     # full, ltp, and the index token's quote
        ws.send(unsubscribe_message(TOKENS))
        eventually(lambda: server.subscriptions == {})
    finally:
        ws.close()


# -- KiteSource in a child process
# -----------------------------------------------------------------------

def child_main() -> int:
    """Run a KiteSource from the JSON config on stdin's first line; report JSON lines until stdin
    closes."""
    cfg = json.loads(sys.stdin.readline())
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    options = KiteFeedOptions.from_config(KiteFeedConfig(root=cfg["url"]), **cfg["options"])
    source = KiteSource(cfg["api_key"], cfg["access_token"], options)
    source.open(instrument_rows(cfg["tokens"]))
    out = np.zeros(4096, TICK_DTYPE)
    failed = False
    while not stop.is_set():
        report = {}
        if not failed:
            try:
                n = source.read(out, 0.05)
                report["ticks"] = [
                    [int(r["instrument"]), float(r["price"]), int(r["flags"]), float(r["bid"])]
                    for r in out[:n]
                ]
            except Exception as e:  # noqa: BLE001 - reported to the test, which asserts on it
                failed = True
                report["error"] = [type(e).__name__, str(e)]
        else:
            stop.wait(0.05)
        report["stats"] = source.stats.as_dict()
        report["orders"] = [json.loads(u.payload) for u in source.order_updates()]
        print(json.dumps(report), flush=True)
    source.close()
    return 0


class KiteChild(SourceChild):
    """The test's side of a child KiteSource: its reports, gathered by the reader thread."""

    def __init__(self, srv, tokens=TOKENS, access_token=GOOD_TOKEN, **options):
        options = {
            "watchdog_s": 3.0,
            "reconnect_initial_s": 0.05,
            "reconnect_max_delay_s": 5.0,
            **options,
        }
        self.ticks, self.orders, self.stats, self.error = [], [], {}, None
        super().__init__(
            "tests.feed.test_kite_source",
            {
                "url": srv.url,
                "api_key": "local-key",
                "access_token": access_token,
                "tokens": tokens,
                "options": options,
            },
        )

    def on_report(self, report: dict) -> None:
        self.ticks.extend(report.get("ticks", ()))
        self.orders.extend(report["orders"])
        self.stats = report["stats"]
        self.error = self.error or report.get("error")

    def stat(self, key):
        return self.stats.get(key, 0)


@pytest.fixture
def kite_child():
    children = []

    def start(srv, **kwargs):
        children.append(KiteChild(srv, **kwargs))
        return children[-1]
    yield start
    for child in children:
        child.stop()


def full_mode(tokens=TOKENS):
    return {t: "full" for t in tokens}


def test_kite_source_delivers_decoded_ticks_and_closes_its_socket(server, kite_child):
    child = kite_child(server)
    eventually(lambda: {t[0] for t in child.ticks} == {0, 1, 2}, what="ticks for every instrument")
    assert server.subscriptions == full_mode()
    flags_of = {}
    for instrument, price, flags, bid in list(child.ticks):
        flags_of.setdefault(instrument, []).append(flags)
        # the index has no depth
        assert price > 100 and (bid == round(price - 0.05, 2) or instrument == 2)
    # The first tick after subscribing is a level (snapshot); the rest are trades.
    assert all(f[0] == FLAG_SNAPSHOT and not any(f[1:]) for f in flags_of.values())
    child.stop()
    eventually(lambda: server.open_connections == 0, what="socket closed by close()")


def test_kite_source_when_feed_goes_silent_watchdog_reconnects_and_resubscribes(server, kite_child):
    child = kite_child(server, watchdog_s=1.0)
    eventually(lambda: len(child.ticks) > 0)
    server.go_silent()
    eventually(
        lambda: child.stat("watchdog_trips") >= 1 and child.stat("reconnects") >= 1,
        what="watchdog trip",
    )
    eventually(lambda: server.connections_accepted >= 2 and server.open_connections == 1)
    eventually(lambda: server.subscriptions == full_mode(), what="resubscribed in full mode")
    before = len(child.ticks)
    eventually(lambda: len(child.ticks) > before + 3, what="ticks after the reconnect")


def test_kite_source_when_server_drops_connection_reconnects_and_resubscribes(server, kite_child):
    child = kite_child(server)
    eventually(lambda: len(child.ticks) > 0)
    server.drop_connections()
    eventually(lambda: child.stat("reconnects") >= 1 and server.connections_accepted >= 2)
    eventually(lambda: server.subscriptions == full_mode(), what="resubscribed in full mode")
    before = len(child.ticks)
    eventually(lambda: len(child.ticks) > before + 3, what="ticks after the reconnect")
    # a fresh snapshot after resubscribing
    assert sum(t[2] == FLAG_SNAPSHOT for t in child.ticks) >= 4
    assert child.stat("watchdog_trips") == 0


def test_kite_source_counts_a_malformed_frame_drops_it_and_keeps_streaming(server, kite_child):
    child = kite_child(server)
    eventually(lambda: len(child.ticks) > 0)
    server.send_malformed()
    eventually(lambda: child.stat("dropped_malformed") == 1)
    before = len(child.ticks)
    eventually(lambda: len(child.ticks) > before + 3)
    assert server.connections_accepted == 1 and child.error is None


def test_kite_source_passes_order_updates_and_counts_error_messages(server, kite_child):
    child = kite_child(server)
    eventually(lambda: len(child.ticks) > 0)
    server.send_text({"type": "order", "data": POSTBACK})
    server.send_text({"type": "error", "data": "Invalid instrument"})
    eventually(lambda: child.orders == [POSTBACK] and child.stat("server_errors") == 1)


def test_kite_source_with_bad_access_token_fails_clearly_without_revealing_it(server, kite_child):
    secret = "wrong-access-token-9f3a"
    child = kite_child(server, access_token=secret)
    eventually(lambda: child.error is not None, what="an error from read()")
    kind, message = child.error
    assert kind == "BrokerFatal" and "access_token" in message and "403" in message
    assert secret not in message and secret not in child.stop()
    assert server.connections_rejected == 1


def test_kite_source_spreads_tokens_over_connections_beyond_the_per_connection_limit(
    server, kite_child
):
    child = kite_child(server, tokens_per_connection=1)
    eventually(lambda: server.open_connections == 3 and server.subscriptions == full_mode())
    eventually(lambda: {t[0] for t in child.ticks} == {0, 1, 2})



def test_kite_source_subscribes_3000_tokens_on_one_connection_and_the_next_on_a_second(
    server, kite_child
):
    # 3,001 tokens, NFO beyond the first three
    tokens = TOKENS + [(i << 8) | 2 for i in range(1, 2999)]
    child = kite_child(server, tokens=tokens)
    eventually(lambda: server.open_connections == 2 and server.subscriptions == full_mode(tokens))
    eventually(lambda: {t[0] for t in child.ticks} == {0, 1, 2})


if __name__ == "__main__" and "--child" in sys.argv:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(child_main())
