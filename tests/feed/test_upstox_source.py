"""UpstoxSource against the local Upstox feed server: ticks, reconnects, the watchdog, bad input,
bad tokens.

Source and server run on threads of the test process (the source needs no process-wide reactor). A
reader thread drains `read()` as the feed stage would; the test throws the server's failure
switches. Every test ends with the source closed, its thread gone and the server stopped.
"""

import logging
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from common.dtypes import FLAG_SNAPSHOT, INSTRUMENT_DTYPE, TICK_DTYPE
from common.errors import BrokerFatal, ConfigError
from config.schema import UpstoxBrokerConfig, UpstoxFeedConfig
from config.secrets import Secrets
from feed.sources import make_source
from feed.sources.upstox.encode import UpstoxQuote, feed_response
from feed.sources.upstox.source import LOCAL_ACCESS_TOKEN, UpstoxFeedOptions, UpstoxSource
from localvenue.feeds.upstox_feed import UpstoxFeedServer
from tests.support import eventually

# RELIANCE, INFY, NIFTY 50
KEYS = ["NSE_EQ|INE002A01018", "NSE_EQ|INE009A01021", "NSE_INDEX|Nifty 50"]
TOKEN = "upstox-local-access-token"
LTT_MS = 1_735_700_000_000
WAIT_S = 15.0   # a bound on how long a condition may take, not a timing requirement


def instrument_rows(keys=KEYS):
    rows = np.zeros(len(keys), INSTRUMENT_DTYPE)
    rows["broker_key"] = [k.encode() for k in keys]
    return rows


def rising_quotes(keys, quiet=False):
    """A tick provider: each call, every subscribed key trades 0.05 higher (nothing at all when
    quiet)."""
    counter = {"n": 0}

    def provide(subscribed):
        if quiet:
            return []
        counter["n"] += 1
        price = round(100 + 0.05 * counter["n"], 2)
        return [
            UpstoxQuote(
                k,
                price,
                LTT_MS + counter["n"],
                1,
                bid=round(price - 0.05, 2),
                ask=round(price + 0.05, 2),
                volume=counter["n"],
                index=k.startswith("NSE_INDEX"),
            )
            for k in subscribed
            if k in keys
        ]
    return provide


class Reader:
    """Drains source.read() on a thread, keeping every row and the first error."""

    def __init__(self, source):
        self.source, self.error = source, None
        self._chunks, self._stop = [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        out = np.zeros(1024, TICK_DTYPE)
        while not self._stop.is_set():
            try:
                n = self.source.read(out, 0.05)
            except Exception as e:  # noqa: BLE001 - the test asserts on it
                self.error = e
                return
            if n:
                self._chunks.append(out[:n].copy())

    @property
    def ticks(self) -> np.ndarray:
        chunks = list(self._chunks)
        return np.concatenate(chunks) if chunks else np.zeros(0, TICK_DTYPE)

    def count(self) -> int:
        return len(self.ticks)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def server_factory():
    servers = []

    def start(provider=None, **kwargs):
        kwargs = {"interval_s": 0.05, "ping_interval_s": 0.2, **kwargs}
        servers.append(
            UpstoxFeedServer(
                access_token=TOKEN, tick_provider=provider or rising_quotes(set(KEYS)), **kwargs
            ).start()
        )
        return servers[-1]
    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture
def upstox():
    """Start a source + reader against a server; close both afterwards and check no thread is
    left."""
    started = []

    def start(srv, token=TOKEN, keys=KEYS, **options):
        options = {
            "watchdog_s": 3.0,
            "reconnect_initial_s": 0.05,
            "reconnect_max_delay_s": 1.0,
            **options,
        }
        options = UpstoxFeedOptions.from_config(UpstoxFeedConfig(), UpstoxBrokerConfig(),
                                                host=srv.url, **options)
        source = UpstoxSource(token, options)
        source.open(instrument_rows(keys))
        started.append((source, Reader(source)))
        return source, started[-1][1]
    yield start
    for source, reader in started:
        source.close()
        reader.stop()
    assert not [t for t in threading.enumerate() if t.name == "upstox-feed"], (
        "connection thread left running"
    )


def stat(source, key):
    return source.stats.as_dict().get(key, 0)


def test_upstox_source_delivers_snapshots_then_live_ticks_and_closes_its_socket(server, upstox):
    source, reader = upstox(server)
    eventually(lambda: set(reader.ticks["instrument"].tolist()) == {0, 1, 2} and reader.count() > 9,
               WAIT_S, message="ticks for every instrument")
    assert server.subscriptions == {k: "full" for k in KEYS}
    ticks = reader.ticks
    for instrument in range(3):
        mine = ticks[ticks["instrument"] == instrument]
        # initial_feed, then live
        assert mine["flags"][0] == FLAG_SNAPSHOT and not mine["flags"][1:].any()
        assert (np.diff(mine["price"]) > 0).all() and (
            mine["ts_event_ns"] > LTT_MS * 1_000_000
        ).all()
    stocks = ticks[ticks["instrument"] < 2]
    assert (
        np.allclose(stocks["bid"], stocks["price"] - 0.05)
        and (ticks[ticks["instrument"] == 2]["bid"] == 0).all()
    )
    assert source.market_status() == {"NSE_EQ": "NORMAL_OPEN", "NSE_INDEX": "NORMAL_OPEN"}
    assert server.text_requests_ignored == 0 and source.stats.received == len(ticks)
    source.close()
    eventually(lambda: server.open_connections == 0, WAIT_S, message="socket closed by close()")


def test_upstox_source_in_ltpc_mode_subscribes_ltpc_and_gets_prices_without_depth(server, upstox):
    source, reader = upstox(server, mode="ltpc")
    eventually(lambda: reader.count() > 6, WAIT_S)
    assert server.subscriptions == {k: "ltpc" for k in KEYS}
    assert (reader.ticks["bid"] == 0).all() and (reader.ticks["volume"] == 0).all()


def test_upstox_source_when_feed_goes_silent_watchdog_reconnects_and_resubscribes(server, upstox):
    source, reader = upstox(server, watchdog_s=1.0)
    eventually(lambda: reader.count() > 0, WAIT_S)
    server.go_silent()
    eventually(lambda: stat(source, "watchdog_trips") >= 1 and source.stats.reconnects >= 1, WAIT_S,
               message="watchdog trip and reconnect")
    eventually(
        lambda: server.open_connections == 1 and server.subscriptions == {k: "full" for k in KEYS},
        WAIT_S,
    )
    # re-authorized: the URL is single-use
    assert server.sub_requests >= 2 and server.authorize_calls >= 2
    before = reader.count()
    eventually(lambda: reader.count() > before + 6, WAIT_S, message="ticks after the reconnect")
    # a fresh snapshot after resubscribing
    assert (reader.ticks["flags"] == FLAG_SNAPSHOT).sum() >= 6


def test_upstox_source_when_server_drops_connection_reauthorizes_and_resubscribes(server, upstox):
    source, reader = upstox(server)
    eventually(lambda: reader.count() > 0, WAIT_S)
    server.drop_connections()
    eventually(lambda: source.stats.reconnects >= 1 and server.connections_accepted >= 2, WAIT_S)
    eventually(
        lambda: server.subscriptions == {k: "full" for k in KEYS}, WAIT_S, message="resubscribed"
    )
    before = reader.count()
    eventually(lambda: reader.count() > before + 6, WAIT_S, message="ticks after the reconnect")
    assert (
        server.authorize_calls >= 2 and stat(source, "watchdog_trips") == 0 and reader.error is None
    )


def test_upstox_source_counts_a_malformed_message_drops_it_and_keeps_streaming(server, upstox):
    source, reader = upstox(server)
    eventually(lambda: reader.count() > 0, WAIT_S)
    server.send_malformed()
    eventually(lambda: source.stats.dropped_malformed == 1, WAIT_S)
    before = reader.count()
    eventually(lambda: reader.count() > before + 6, WAIT_S)
    assert server.connections_accepted == 1 and reader.error is None


def test_upstox_source_counts_messages_for_keys_it_did_not_subscribe(server, upstox):
    source, reader = upstox(server, keys=KEYS[:1])
    eventually(lambda: reader.count() > 0, WAIT_S)
    server.send_binary(feed_response([UpstoxQuote("NSE_EQ|INE467B01029", 3100.0)]))
    eventually(lambda: source.stats.dropped_unknown == 1, WAIT_S)
    assert set(reader.ticks["instrument"].tolist()) == {0}


def test_upstox_source_in_a_quiet_market_stays_connected_on_pings_alone(server_factory, upstox):
    srv = server_factory(rising_quotes(set(KEYS), quiet=True), ping_interval_s=0.1)
    source, reader = upstox(srv, watchdog_s=0.6)
    # Pings arrive every 0.1 s, so 20 of them span more than three watchdog periods without data.
    eventually(lambda: stat(source, "pings") >= 20, WAIT_S, message="server pings")
    assert (
        stat(source, "watchdog_trips") == 0
        and srv.connections_accepted == 1
        and reader.count() == 0
    )


def test_upstox_source_retries_a_failing_authorize_then_streams(server_factory, upstox):
    srv = server_factory()
    srv.fail_authorize(503, times=2)
    source, reader = upstox(srv)
    eventually(lambda: reader.count() > 0, WAIT_S)
    assert (
        stat(source, "authorize_failures") == 2
        and srv.authorize_calls == 3
        and reader.error is None
    )


def test_upstox_source_with_bad_access_token_fails_clearly_without_revealing_it(
    server, upstox, caplog
):
    secret = "wrong-upstox-token-81bd"
    caplog.set_level(logging.DEBUG)
    source, reader = upstox(server, token=secret)
    eventually(lambda: reader.error is not None, WAIT_S, message="an error from read()")
    assert isinstance(reader.error, BrokerFatal) and reader.error.http_status == 401
    assert "access token" in str(reader.error) and secret not in str(reader.error)
    # Only OTrade's records: the server library's own debug log of the request is not ours.
    ours = [r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records
            if not r.name.startswith("websockets")]
    assert ours and not any(secret in line for line in ours)
    # no retrying a refused token
    assert server.authorize_calls == 1 and server.connections_accepted == 0
    with pytest.raises(BrokerFatal):   # the same error on every later call
        source.read(np.zeros(1, TICK_DTYPE), 0.0)


def test_upstox_source_fails_fatally_when_the_token_expires_mid_session(server, upstox):
    source, reader = upstox(server)
    eventually(lambda: reader.count() > 0, WAIT_S)
    server.reject_token()
    server.drop_connections()
    eventually(lambda: reader.error is not None, WAIT_S)
    assert isinstance(reader.error, BrokerFatal) and TOKEN not in str(reader.error)


def test_upstox_source_refuses_keys_outside_the_table_too_many_keys_and_a_missing_token():
    with pytest.raises(ConfigError, match="not in the instrument table"):
        options = UpstoxFeedOptions.from_config(UpstoxFeedConfig(), UpstoxBrokerConfig(),
                                                keys=("NSE_EQ|X",))
        UpstoxSource(TOKEN, options).open(instrument_rows())
    many = [f"NSE_FO|{i}" for i in range(2001)]
    with pytest.raises(ConfigError, match="2000"):
        UpstoxSource(TOKEN).open(instrument_rows(many))
    with pytest.raises(BrokerFatal):
        UpstoxSource("")
    assert TOKEN not in repr(UpstoxSource(TOKEN))


def fake_config(local_server, host=None, source="upstox"):
    """The two config sections from_config reads, built from the real schema classes (their
    defaults)."""
    return SimpleNamespace(
        feed=SimpleNamespace(source=source, upstox=UpstoxFeedConfig(mode="ltpc", watchdog_s=2.0)),
        broker=SimpleNamespace(
            upstox=UpstoxBrokerConfig(host=host, local_server=local_server, timeout_s=3.0)
        ),
    )


def test_from_config_builds_the_source_for_a_local_server_and_for_upstox():
    local = make_source(fake_config(True, "http://127.0.0.1:9"), Secrets())
    assert isinstance(local, UpstoxSource) and local._access_token == LOCAL_ACCESS_TOKEN
    assert (
        local.options.host,
        local.options.mode,
        local.options.watchdog_s,
        local.options.authorize_timeout_s,
    ) == ("http://127.0.0.1:9", "ltpc", 2.0, 3.0)
    live = UpstoxSource.from_config(fake_config(False), Secrets({"UPSTOX_ACCESS_TOKEN": TOKEN}))
    assert live.options.host == "https://api.upstox.com" and live._access_token == TOKEN
    with pytest.raises(ConfigError, match="UPSTOX_ACCESS_TOKEN"):
        UpstoxSource.from_config(fake_config(False), Secrets())
    with pytest.raises(ConfigError, match="broker.upstox.host"):
        UpstoxSource.from_config(fake_config(True), Secrets())
