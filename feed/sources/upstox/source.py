"""UpstoxSource: live ticks from Upstox's Market Data Feed V3, through OTrade's own websocket
client.

The SDK's MarketDataStreamerV3 hard-codes wss://api.upstox.com (brokers.md §0.4), so it can be
neither pointed at a local server nor given our watchdog. OTrade authorizes over REST (auth.py),
runs one socket on a thread (connection.py: reconnect with backoff, re-authorize, resubscribe,
watchdog) and decodes the SDK's compiled protobuf messages itself (decode.py).

Data path: each binary message is decoded on the connection thread into a scratch array, which
TickHandoff copies into a bounded buffer that `read()` drains on the feed's thread
(feed/sources/live.py, shared with Kite).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from common.clock import mono_ns, now_ns
from common.errors import BrokerFatal, ConfigError
from config.schema import UpstoxBrokerConfig, UpstoxFeedConfig
from feed.sources.live import LiveSource, table_rows
from feed.sources.upstox.auth import authorize_feed, check_host
from feed.sources.upstox.connection import UpstoxConnection
from feed.sources.upstox.decode import UpstoxDecoder, key_index
from feed.sources.upstox.protocol import DEFAULT_HOST, MODES, check_key_count

log = logging.getLogger(__name__)

# What a local Upstox server accepts (broker.upstox.local_server): the same value as
# orders/brokers/upstox/credentials.py, so one local server can stand behind both stages (stages
# never import each other, hence the copy).
LOCAL_ACCESS_TOKEN = "local-upstox-token"
_CLOSE_GRACE_S = 2.0
_COUNTERS = (
    "watchdog_trips",
    "authorize_failures",
    "connect_failures",
    "pings",
    "pongs",
    "text_messages",
    "dropped_backlog",
)


# Connection knobs the schema does not carry: figures, not choices.
RECONNECT_INITIAL_S = 0.5         # first backoff step; doubles per failure (up to the ceiling)
RECONNECT_MAX_TRIES = 300         # consecutive failed attempts; then read() raises
CONNECT_TIMEOUT_S = 10.0          # websocket dial and handshake
BUFFER_ROWS = 1 << 16             # ticks held for read(); the oldest go first when full


@dataclass(frozen=True, kw_only=True)
class UpstoxFeedOptions:
    """feed.upstox (and broker.upstox's timeout) as the source reads them. No field has a default:
    the settings' defaults live in config.schema, the rest are the constants above; build it with
    `from_config` (tests/config/test_one_source_of_defaults.py fails if a default is added)."""

    host: str                             # REST host of the authorize call
    mode: str                             # full carries depth (bid/ask), volume and OI
    keys: tuple | None                    # None: every instrument with a broker_key
    watchdog_s: float                     # no frame (data, ping or pong) this long => reconnect
    reconnect_initial_s: float
    reconnect_max_delay_s: float
    reconnect_max_tries: int
    connect_timeout_s: float
    authorize_timeout_s: float            # the REST call (broker.upstox.timeout_s)
    buffer_rows: int

    @classmethod
    def from_config(cls, feed, broker, **overrides) -> "UpstoxFeedOptions":
        """From `config.schema.UpstoxFeedConfig` and `UpstoxBrokerConfig` sections; `overrides`
        replace single fields (the host `connection_settings` resolved, a test's timeouts)."""
        options = cls(host=feed.host or broker.host or DEFAULT_HOST, mode=feed.mode, keys=None,
                      watchdog_s=feed.watchdog_s,
                      reconnect_initial_s=min(RECONNECT_INITIAL_S, feed.reconnect_max_delay_s),
                      reconnect_max_delay_s=feed.reconnect_max_delay_s,
                      reconnect_max_tries=RECONNECT_MAX_TRIES, connect_timeout_s=CONNECT_TIMEOUT_S,
                      authorize_timeout_s=broker.timeout_s, buffer_rows=BUFFER_ROWS)
        return replace(options, **overrides)


def connection_settings(config, secrets) -> tuple[str, str]:
    """(REST host of the authorize calls, access token) for Upstox's sockets, from `feed.upstox` and
    `broker.upstox`: the token from UPSTOX_ACCESS_TOKEN, or the local server's fixed token when
    broker.upstox.local_server is true (then a host is required). UPSTOX_API_KEY is not needed: the
    sockets authorize with the bearer token alone."""
    broker = config.broker.upstox
    # feed.upstox.host: a feed server apart from the REST host
    host = config.feed.upstox.host or broker.host
    if broker.local_server:
        if not host:
            raise ConfigError("is required when broker.upstox.local_server is true (the local "
                              "server's http://127.0.0.1:PORT)", path="broker.upstox.host")
        return host, LOCAL_ACCESS_TOKEN
    return host or DEFAULT_HOST, secrets.require("UPSTOX_ACCESS_TOKEN")


class UpstoxSource(LiveSource):
    name = "upstox"

    def __init__(self, access_token: str, options: UpstoxFeedOptions | None = None):
        super().__init__()
        self.options = options or UpstoxFeedOptions.from_config(UpstoxFeedConfig(),
                                                                UpstoxBrokerConfig())
        if self.options.mode not in MODES:
            raise ConfigError(
                f"mode must be one of {MODES}, got {self.options.mode!r}", path="feed.upstox.mode"
            )
        check_host(self.options.host)
        if not access_token:
            raise BrokerFatal("an Upstox access token is required for the market data feed")
        self._access_token = access_token
        self._connection: UpstoxConnection | None = None
        self._decoder: UpstoxDecoder | None = None

    @classmethod
    def from_config(cls, config, secrets) -> "UpstoxSource":
        """From `feed.upstox` and `broker.upstox` (the token and host: `connection_settings`)."""
        feed, broker = config.feed.upstox, config.broker.upstox
        host, token = connection_settings(config, secrets)
        return cls(token, UpstoxFeedOptions.from_config(feed, broker, host=host))

    def __repr__(self) -> str:  # never the token
        return f"UpstoxSource(host={self.options.host!r}, mode={self.options.mode!r})"

    def open(self, instruments, start_after: int = 0) -> None:
        """Subscribe every Upstox key (live: `start_after` is ignored). Returns once connecting
        started."""
        self._check_unopened()
        rows = table_rows(instruments)
        try:
            index = key_index(rows)
        except ValueError as e:
            raise ConfigError(str(e), path="instruments.broker_key") from None
        keys = list(index) if self.options.keys is None else list(dict.fromkeys(self.options.keys))
        missing = [k for k in keys if k not in index]
        if missing:
            raise ConfigError(
                f"Upstox keys {missing[:5]} are not in the instrument table",
                path="feed.upstox.keys",
            )
        check_key_count(len(keys), self.options.mode)
        # a message holds each key at most once
        self._start(_COUNTERS, self.options.buffer_rows, len(index))
        self._decoder = UpstoxDecoder(index, self.stats)
        self._connection = UpstoxConnection(self, keys, self.options, self._authorize)
        self._connection.start()

    def market_status(self) -> dict[str, str]:
        """Segment -> status from Upstox's latest market_info message (e.g. {"NSE_EQ":
        "NORMAL_OPEN"})."""
        return dict(self._decoder.market_status) if self._decoder is not None else {}

    def close(self) -> None:
        """Close the socket (clean websocket close, abort after a grace period) and stop its
        thread."""
        if self._closed:
            return
        self._closed = True
        if self._connection is not None and not self._connection.stop(_CLOSE_GRACE_S):
            log.warning(
                "upstox feed thread still blocked after close; it ends with its own timeout"
            )
        self._wake()

    # -- called by UpstoxConnection on its thread
    # --------------------------------------------------------

    def _authorize(self) -> str:
        o = self.options
        return authorize_feed(o.host, self._access_token, o.authorize_timeout_s)

    def on_message(self, payload: bytes) -> bool:
        """Decode one binary message into the hand-off; True unless it was undecodable."""
        malformed = self.stats.dropped_malformed
        assert self._decoder is not None    # open() makes it before it starts the connection
        n = self._decoder.decode(payload, self._scratch, mono_ns(), now_ns())
        self._deliver(n)
        return n > 0 or self.stats.dropped_malformed == malformed

    def on_text(self, payload) -> bool:
        """V3 speaks protobuf only: a text frame is counted, never decoded."""
        self.count("text_messages")
        return False

    def on_opened(self, reconnect: bool) -> None:
        if reconnect:
            self.stats.reconnects += 1
