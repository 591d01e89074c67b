"""UpstoxOrderStream: the user's order updates, pushed by Upstox's portfolio stream feed.

Upstox's market data socket carries no order updates (Kite's ticker does); a second socket does:
GET /v2/feed/portfolio-stream-feed/authorize?update_types=order (bearer token) returns the same
envelope as the market feed's authorize, `data.authorized_redirect_uri` a single-use wss:// URL; the
server then sends each order change as a JSON TEXT frame, the order-book row plus `update_type`
("order"), `user_id`/`userId` and `instrument_key` (statuses as in the book: "put order req
received", "open", "complete", "cancelled", "rejected", ...), and only websocket pings when idle.
Nothing is sent to it. Sources: upstox.com/developer/api-documentation/get-portfolio-stream-feed and
.../get-portfolio-stream-feed-authorize (update_types order, gtt_order, position, holding).

Why our own client and not the SDK's PortfolioDataStreamer: the SDK hard-codes wss://api.upstox.com
(so no local venue), turns TLS verification off (CERT_NONE, with a bearer token on the wire), runs a
non-daemon thread and has no liveness check. This reuses the market feed's connection
(connection.py: authorize afresh per attempt, backoff with jitter, watchdog on every frame, pings).

A push only makes orders learn sooner what its polling of the order book would tell it anyway, so
this stream never stops the feed: it retries forever with backoff (capped), and a refused token
(BrokerFatal: the market feed, if any, fails on the same token) or a bug ends the stream alone,
logged and counted (`stream_failed`); polling carries on. Each order update is kept as its JSON text
for `order_updates()`, which the feed stage publishes as BrokerOrderUpdate(broker="upstox").
Anything else is counted and dropped on the connection's thread: text that is not a JSON object or
an order without an order_id ("unparsed_text"), another update_type ("other_updates"), a binary
frame ("binary_messages").
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass, replace
from typing import NamedTuple

import orjson

from common.clock import mono_ns, now_ns
from config.schema import UpstoxBrokerConfig, UpstoxFeedConfig
from feed.sources.base import SourceStats
from feed.sources.upstox.auth import authorize_feed, check_host
from feed.sources.upstox.connection import UpstoxConnection
from feed.sources.upstox.source import UpstoxFeedOptions, connection_settings

log = logging.getLogger(__name__)

PORTFOLIO_AUTHORIZE_PATH = "/v2/feed/portfolio-stream-feed/authorize"
UPDATE_TYPES = "order"          # what OTrade asks for: its orders, not positions/holdings/GTTs
_CLOSE_GRACE_S = 2.0
_COUNTERS = ("order_updates", "dropped_order_updates", "unparsed_text", "other_updates",
             "binary_messages", "pings", "pongs", "watchdog_trips", "authorize_failures",
             "connect_failures", "stream_failed")

ORDER, OTHER, MALFORMED = "order", "other", "malformed"


class ReceivedOrderUpdate(NamedTuple):
    """One order update as the stream delivered it: the message as JSON text, and when."""

    ts_recv_ns: int   # mono_ns() on the connection thread
    ts_wall_ns: int   # now_ns() at the same moment
    payload: str


def classify(payload: bytes | str) -> tuple[str, str]:
    """(ORDER, the message as text) for an order update; (OTHER, "") for another update type;
    (MALFORMED, "") for anything else (not UTF-8, not a JSON object, an order without order_id)."""
    try:
        text = payload.decode() if isinstance(payload, (bytes, bytearray, memoryview)) else payload
        msg = orjson.loads(text)
    except (UnicodeDecodeError, orjson.JSONDecodeError):
        return MALFORMED, ""
    if not isinstance(msg, dict):
        return MALFORMED, ""
    kind = msg.get("update_type")
    if kind != "order":
        return (OTHER, "") if isinstance(kind, str) and kind else (MALFORMED, "")
    oid = msg.get("order_id")
    if isinstance(oid, bool) or not isinstance(oid, (str, int)) or not str(oid):
        return MALFORMED, ""
    return ORDER, text


def order_update_message(row: dict, user_id: str = "LOCAL1") -> str:
    """An order-book row as the portfolio stream pushes it (the local venue's side)."""
    msg = {"update_type": "order", "user_id": user_id, "userId": user_id, **row}
    msg.setdefault("instrument_key", row.get("instrument_token"))
    return orjson.dumps(msg).decode()


MAX_UPDATES = 10_000      # undrained updates kept; the oldest go first


@dataclass(frozen=True, kw_only=True)
class UpstoxOrderStreamOptions:
    """feed.upstox's connection settings for the portfolio stream. No field has a default (the
    settings' live in config.schema); build it with `from_config`."""

    host: str                             # REST host of the authorize call
    watchdog_s: float             # no frame at all (update, ping or pong) this long => reconnect
    reconnect_initial_s: float
    reconnect_max_delay_s: float
    reconnect_max_tries: int              # 0: never give up (polling covers the gap meanwhile)
    connect_timeout_s: float
    authorize_timeout_s: float
    max_updates: int

    @classmethod
    def from_config(cls, feed, broker, **overrides) -> "UpstoxOrderStreamOptions":
        """From `config.schema.UpstoxFeedConfig` and `UpstoxBrokerConfig` sections, with the feed
        source's connection figures; `overrides` replace single fields."""
        ticks = UpstoxFeedOptions.from_config(feed, broker)
        options = cls(host=ticks.host, watchdog_s=ticks.watchdog_s,
                      reconnect_initial_s=ticks.reconnect_initial_s,
                      reconnect_max_delay_s=ticks.reconnect_max_delay_s, reconnect_max_tries=0,
                      connect_timeout_s=ticks.connect_timeout_s,
                      authorize_timeout_s=ticks.authorize_timeout_s, max_updates=MAX_UPDATES)
        return replace(options, **overrides)


class UpstoxOrderStream:
    name = "upstox"     # the broker whose orders these are: the BrokerOrderUpdate topic

    def __init__(self, access_token: str, options: UpstoxOrderStreamOptions | None = None):
        self.options = options or UpstoxOrderStreamOptions.from_config(UpstoxFeedConfig(),
                                                                       UpstoxBrokerConfig())
        check_host(self.options.host)
        self._access_token = access_token
        self.stats = SourceStats(extra=dict.fromkeys(_COUNTERS, 0))
        self._updates: collections.deque = collections.deque(maxlen=self.options.max_updates)
        self._lock = threading.Lock()
        self._connection: UpstoxConnection | None = None
        self.failure = ""

    @classmethod
    def from_config(cls, config, secrets) -> "UpstoxOrderStream":
        host, token = connection_settings(config, secrets)
        options = UpstoxOrderStreamOptions.from_config(config.feed.upstox, config.broker.upstox,
                                                       host=host)
        return cls(token, options)

    def __repr__(self) -> str:  # never the token
        return f"UpstoxOrderStream(host={self.options.host!r})"

    def open(self) -> None:
        self._connection = UpstoxConnection(self, None, self.options, self._authorize,
                                            what="upstox order stream")
        self._connection.start()

    def order_updates(self) -> list[ReceivedOrderUpdate]:
        """Drain the order updates received since the last call, oldest first."""
        with self._lock:
            drained = list(self._updates)
            self._updates.clear()
        return drained

    def close(self) -> None:
        if self._connection is not None and not self._connection.stop(_CLOSE_GRACE_S):
            log.warning(
                "upstox order stream thread still blocked after close; it ends with its own timeout"
            )

    # -- called by UpstoxConnection on its thread
    # --------------------------------------------------------

    def _authorize(self) -> str:
        o = self.options
        return authorize_feed(o.host, self._access_token, o.authorize_timeout_s,
                              f"{PORTFOLIO_AUTHORIZE_PATH}?update_types={UPDATE_TYPES}")

    def on_text(self, payload) -> bool:
        """Keep one order update; True when the frame was one."""
        kind, text = classify(payload)
        if kind == ORDER:
            with self._lock:
                if len(self._updates) == self._updates.maxlen:
                    self.count("dropped_order_updates")    # the append pushes out the oldest
                self._updates.append(ReceivedOrderUpdate(mono_ns(), now_ns(), text))
            self.count("order_updates")
        else:
            self.count("other_updates" if kind == OTHER else "unparsed_text")
        return kind == ORDER

    def on_message(self, payload: bytes) -> bool:
        self.count("binary_messages")     # the portfolio stream speaks JSON text only
        return False

    def on_opened(self, reconnect: bool) -> None:
        if reconnect:
            self.stats.reconnects += 1

    def count(self, key: str) -> None:
        self.stats.extra[key] = self.stats.extra.get(key, 0) + 1

    def fail(self, error: Exception) -> None:
        """The stream ends (refused token, a bug); the feed and polling go on."""
        self.failure = str(error)
        self.count("stream_failed")
        log.error("upstox order stream ended; orders learn of changes by polling only",
                  extra={"fields": {"error": self.failure}})
