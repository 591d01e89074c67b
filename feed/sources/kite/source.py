"""KiteSource: live ticks from Zerodha's KiteTicker through the official SDK, decoded by OTrade.

Process model (brokers.md §4): Twisted's reactor runs once per process and cannot be restarted after
`stop()`. So the reactor is started once, on a daemon thread, the first time any source opens, and
is never stopped; every connection is created, polled and closed *on* that thread
(`reactor.callFromThread`). Closing a source closes its sockets and leaves the idle reactor thread
to the end of the process. A feed that must start over is a feed process restarted by the
supervisor. Reconnects are the SDK's own (Twisted's ReconnectingClientFactory: exponential backoff
up to `reconnect_max_delay_s`, and the SDK re-sends subscriptions and modes on every reconnect).

Data path: the SDK's `on_message` hands us raw frames on the reactor thread; KiteDecoder turns each
into TICK_DTYPE rows in a scratch array, which TickHandoff copies into a bounded buffer that
`read()` drains on the feed's thread (feed/sources/live.py, shared with Upstox). The SDK's own
parser only runs when `on_ticks` is set, and it never is.

Text messages: an order update ({"type": "order", "data": {...}}) is kept, re-encoded as JSON text
with its receipt times, for `order_updates()`, and wakes `read()` so the feed stage forwards it to
orders at once instead of at the next tick batch. Anything malformed (not JSON, no "type", an order
without a dict carrying an order_id) is counted in "unparsed_text" and dropped on the reactor
thread.
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import orjson

from common.clock import mono_ns, now_ns
from common.errors import BrokerFatal, ConfigError, StageError
from config.schema import KiteFeedConfig
from feed.sources.kite.connection import KiteConnection
from feed.sources.kite.decode import KiteDecoder, TokenIndex, segment_divisor
from feed.sources.kite.protocol import (MAX_CONNECTIONS_PER_API_KEY, MAX_TOKENS_PER_CONNECTION,
                                        MODES, parse_text_message, split_for_connections)
from feed.sources.live import LiveSource, table_rows

log = logging.getLogger(__name__)

# What a local Kite server accepts (broker.kite.local_server): the same values as
# orders/brokers/kite/credentials.py (stages never import each other, hence the copy).
LOCAL_API_KEY = "local"
LOCAL_ACCESS_TOKEN = "local-token"
_MAX_PACKETS_PER_FRAME = 0xFFFF   # a frame's packet count is a uint16
_CLOSE_GRACE_S = 2.0
_COUNTERS = ("heartbeats", "dropped_overflow", "dropped_backlog", "watchdog_trips", "order_updates",
             "dropped_order_updates", "server_errors", "broker_messages", "unparsed_text")


class ReceivedOrderUpdate(NamedTuple):
    """One order update as KiteTicker delivered it: the order object as JSON text, and when."""

    ts_recv_ns: int   # mono_ns() on the reactor thread
    ts_wall_ns: int   # now_ns() at the same moment
    payload: str


# Connection knobs the schema does not carry: the SDK's and Kite's figures, not choices.
RECONNECT_INITIAL_S = 1.0         # first backoff step (Twisted multiplies it by e)
RECONNECT_MAX_TRIES = 300         # the SDK's ceiling; then read() raises
CONNECT_TIMEOUT_S = 30.0
BUFFER_ROWS = 1 << 16             # ticks held for read(); the oldest go first when full
MAX_ORDER_UPDATES = 10_000        # undrained order updates kept


@dataclass(frozen=True, kw_only=True)
class KiteFeedOptions:
    """feed.kite as the source reads it. No field has a default here: the settings' defaults live in
    config.schema.KiteFeedConfig, the rest are the constants above; build it with `from_config`
    (tests/config/test_one_source_of_defaults.py fails if a default is added)."""

    root: str | None                 # None: the SDK's wss://ws.kite.trade
    mode: str                        # full carries depth (bid/ask) and exchange time
    tokens: tuple | None             # None: every Kite token in the instrument table
    watchdog_s: float                # no message at all this long => reconnect
    reconnect_initial_s: float
    reconnect_max_delay_s: float     # the SDK raises anything below 5 to 5
    reconnect_max_tries: int
    connect_timeout_s: float
    buffer_rows: int
    tokens_per_connection: int
    max_connections: int
    max_order_updates: int
    ca_file: str | None              # PEM roots to trust for wss:// (None: the system's)

    @classmethod
    def from_config(cls, kite, **overrides) -> "KiteFeedOptions":
        """From a `config.schema.KiteFeedConfig` section (feed.kite); `overrides` replace single
        fields (a test's tokens or timeouts)."""
        options = cls(root=kite.root, mode=kite.mode, tokens=None, watchdog_s=kite.watchdog_s,
                      reconnect_initial_s=RECONNECT_INITIAL_S,
                      reconnect_max_delay_s=kite.reconnect_max_delay_s,
                      reconnect_max_tries=RECONNECT_MAX_TRIES, connect_timeout_s=CONNECT_TIMEOUT_S,
                      buffer_rows=BUFFER_ROWS, tokens_per_connection=MAX_TOKENS_PER_CONNECTION,
                      max_connections=MAX_CONNECTIONS_PER_API_KEY,
                      max_order_updates=MAX_ORDER_UPDATES, ca_file=kite.ca_file)
        return replace(options, **overrides)


def _check_divisors(rows: np.ndarray) -> None:
    """A table divisor that disagrees with Kite's token rule would scale that instrument's prices by
    a power of ten; refuse to start rather than trade on them (0 means the table does not say)."""
    kite = rows[(rows["token"] > 0) & (rows["segment_divisor"] > 0)]
    for row in kite:
        if row["segment_divisor"] != segment_divisor(int(row["token"])):
            raise ConfigError(
                f"instrument {row['symbol'].decode(errors='replace')} (token {int(row['token'])}) "
                f"has segment_divisor {row['segment_divisor']:g}, but Kite prices its segment in "
                f"units of 1/{segment_divisor(int(row['token'])):g}",
                path="instruments.segment_divisor",
            )


_reactor_lock = threading.Lock()


def running_reactor():
    """The process's Twisted reactor, started on a daemon thread if nothing runs it yet."""
    from twisted.internet import reactor

    with _reactor_lock:
        if reactor.running:
            return reactor
        if getattr(reactor, "_startedBefore", False):
            raise StageError(
                "the Twisted reactor of this process was stopped and cannot run again; "
                "restart the feed process to reconnect to Kite"
            )
        started = threading.Event()
        reactor.callWhenRunning(started.set)
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True,
                         name="kite-reactor").start()
        if not started.wait(10.0):
            raise StageError("the Twisted reactor did not start within 10 s")
        return reactor


class KiteSource(LiveSource):
    name = "kite"

    def __init__(self, api_key: str, access_token: str, options: KiteFeedOptions | None = None):
        super().__init__()
        self.options = options or KiteFeedOptions.from_config(KiteFeedConfig())
        if self.options.mode not in MODES:
            raise ConfigError(
                f"mode must be one of {MODES}, got {self.options.mode!r}", path="feed.kite.mode"
            )
        if not api_key or not access_token:
            raise BrokerFatal("Kite api_key and access_token are both required for the ticker")
        self._api_key, self._access_token = api_key, access_token
        self._connections: list[KiteConnection] = []
        # Bounded, and only append/popleft on it: both are atomic, the reactor appends, the feed
        # drains.
        self._orders: collections.deque = collections.deque(maxlen=self.options.max_order_updates)
        self._decoder: KiteDecoder | None = None
        self._reactor: Any = None           # Twisted's reactor (Twisted ships no types)

    @classmethod
    def from_config(cls, config, secrets) -> "KiteSource":
        """From `feed.kite`; credentials from KITE_API_KEY / KITE_ACCESS_TOKEN, or the local
        server's fixed pair when broker.kite.local_server is true (then feed.kite.root is
        required)."""
        feed = config.feed.kite
        if config.broker.kite.local_server:
            if not feed.root:
                raise ConfigError(
                    "is required when broker.kite.local_server is true (the local ticker's "
                    "ws://127.0.0.1:PORT)",
                    path="feed.kite.root",
                )
            api_key, access_token = LOCAL_API_KEY, LOCAL_ACCESS_TOKEN
        else:
            api_key, access_token = (
                secrets.require("KITE_API_KEY"),
                secrets.require("KITE_ACCESS_TOKEN"),
            )
        return cls(api_key, access_token, KiteFeedOptions.from_config(feed))

    def __repr__(self) -> str:  # never the credentials
        return f"KiteSource(root={self.options.root!r}, connections={len(self._connections)})"

    def open(self, instruments, start_after: int = 0) -> None:
        """Subscribe every token (live: `start_after` is ignored). Returns once connecting
        started."""
        self._check_unopened()
        rows = table_rows(instruments)
        _check_divisors(rows)
        index = TokenIndex.from_rows(rows)
        tokens = (
            index.tokens
            if self.options.tokens is None
            else np.asarray(self.options.tokens, np.int64)
        )
        missing = np.setdiff1d(tokens, index.tokens)
        if missing.size:
            raise ConfigError(f"Kite tokens {missing[:5].tolist()} are not in the instrument table",
                              path="feed.kite.tokens")
        chunks = split_for_connections(tokens.tolist(), self.options.tokens_per_connection,
                                       self.options.max_connections)
        self._start(_COUNTERS, self.options.buffer_rows,
                    min(_MAX_PACKETS_PER_FRAME, max(4096, 4 * max(map(len, chunks)))))
        self._decoder = KiteDecoder(index, self.stats)
        self._decoder.warm()
        self._reactor = running_reactor()
        for number, chunk in enumerate(chunks):
            conn = KiteConnection(
                self, number, chunk, self._api_key, self._access_token, self.options
            )
            self._connections.append(conn)
            self._reactor.callFromThread(conn.start)

    def order_updates(self) -> list[ReceivedOrderUpdate]:
        """Drain the order updates received since the last call, oldest first."""
        drained = []
        while self._orders:
            drained.append(self._orders.popleft())
        return drained

    def close(self) -> None:
        """Close every connection (clean websocket close, then abort after a grace period)."""
        if self._closed:
            return
        self._closed = True
        for conn in self._connections:
            self._reactor.callFromThread(conn.shutdown)
        for conn in self._connections:
            if not conn.closed.wait(_CLOSE_GRACE_S):
                self._reactor.callFromThread(conn.abort)
        self._wake()

    # -- called by KiteConnection on the reactor thread
    # ----------------------------------------------

    def on_frame(self, payload: bytes) -> None:
        # Heartbeats are counted in the decoder; the scratch is sized for any real frame, and a
        # larger one loses its tail to stats.extra["dropped_overflow"].
        assert self._decoder is not None    # open() makes it before it starts any connection
        self._deliver(self._decoder.decode(payload, self._scratch, mono_ns(), now_ns()))

    def on_text(self, payload) -> None:
        ts_recv_ns, ts_wall_ns = mono_ns(), now_ns()
        msg = parse_text_message(payload)
        extra = self.stats.extra
        if msg is None or (msg.kind == "order" and not msg.data.get("order_id")):
            extra["unparsed_text"] = extra.get("unparsed_text", 0) + 1
        elif msg.kind == "order":
            if len(self._orders) == self._orders.maxlen:   # the append below pushes out the oldest
                extra["dropped_order_updates"] = extra.get("dropped_order_updates", 0) + 1
            self._orders.append(
                ReceivedOrderUpdate(ts_recv_ns, ts_wall_ns, orjson.dumps(msg.data).decode())
            )
            extra["order_updates"] = extra.get("order_updates", 0) + 1
            self._wake()   # a fill waits for no tick: read() returns, the stage forwards it
        elif msg.kind == "error":
            extra["server_errors"] = extra.get("server_errors", 0) + 1
            log.warning(
                "kite ticker sent an error message", extra={"fields": {"message": msg.data[:200]}}
            )
        else:
            extra["broker_messages"] = extra.get("broker_messages", 0) + 1

    def on_opened(self, conn: KiteConnection, reconnect: bool) -> None:
        assert self._decoder is not None
        self._decoder.mark_snapshot(conn.tokens)
        if reconnect:
            self.stats.reconnects += 1
