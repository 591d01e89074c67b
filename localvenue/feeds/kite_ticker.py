"""A local KiteTicker server on 127.0.0.1 that speaks Kite's websocket protocol as the real one
does.

- Handshake: `?api_key=..&access_token=..` in the URL; a wrong or missing pair is refused with
  HTTP 403 before the upgrade, which pykiteconnect reports as "1006 ... WebSocket connection upgrade
  failed (403 - Forbidden)" (brokers.md §1.8, pykiteconnect issue #102).
- Requests: subscribe (new tokens stream in quote mode), mode ltp/quote/full per token, unsubscribe.
- Stream: every `interval_s`, one binary frame per connection with a packet for each quote that
  `tick_provider(tokens)` returns for that connection's subscribed tokens, in each token's mode; a
  1-byte heartbeat every `heartbeat_s`, subscribed or not.
- Text: `send_text(obj)` pushes JSON (`{"type": "order", "data": {...}}`, `{"type": "error", ...}`);
  `send_order_update(order)` pushes one order update the way Kite does, without waiting for it to be
  written, so a local exchange can call it from any thread, even under its own lock.
- Failure switches for tests: `go_silent()` (connections stay open, nothing at all is sent),
  `drop_connections()` (TCP abort, no close frame), `send_malformed()`, `send_binary(raw)`.

It runs its own asyncio loop on one thread (localvenue/feeds/wsserver.py, shared with the Upstox
feed), independent of the Twisted reactor that the SDK client uses.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import orjson

from feed.sources.kite.frames import HEARTBEAT, encode_frame, encode_quotes, truncated_frame
from feed.sources.kite.protocol import (
    ACTION_MODE,
    ACTION_SUBSCRIBE,
    MODE_QUOTE,
    order_update_message,
    parse_client_request,
)
from localvenue.feeds.wsserver import LocalWsServer, Session


class _Session(Session):
    """A Kite connection: token -> mode, changed by the client's JSON requests."""

    def apply(self, payload) -> None:
        req = parse_client_request(payload)
        if req is None:
            return
        if req.action == ACTION_SUBSCRIBE:
            for t in req.tokens:
                self.modes.setdefault(t, MODE_QUOTE)
        elif req.action == ACTION_MODE:
            for t in req.tokens:
                if t in self.modes:  # a mode for a token not subscribed is ignored
                    self.modes[t] = req.mode
        else:
            for t in req.tokens:
                self.modes.pop(t, None)


class KiteTickerServer(LocalWsServer):
    thread_name = "kite-ticker-server"
    quote_key = "token"
    silence_stops_reading = False    # go_silent(): a silent-dead socket, pykiteconnect issue #229

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, access_token: str,
                 tick_provider, api_key: str | None = None, interval_s: float = 0.1,
                 heartbeat_s: float = 1.0):
        """`tick_provider(tokens: list[int]) -> iterable of KiteQuote` is called on the server's
        thread once per interval per connection; `api_key=None` accepts any api_key."""
        super().__init__(host, port, tick_provider=tick_provider, interval_s=interval_s)
        self._access_token, self._api_key = access_token, api_key
        self.heartbeat_s = heartbeat_s

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    # -- switches --------------------------------------------------------------------------------

    def send_text(self, obj) -> None:
        """JSON-encode `obj` (a dict, or bytes already encoded) and send it to every connection."""
        data = obj if isinstance(obj, (bytes, str)) else orjson.dumps(obj)
        self._broadcast(data.decode() if isinstance(data, bytes) else data)

    def send_order_update(self, order: dict) -> None:
        """{"type": "order", "data": order} to every connection; returns at once. Once the server is
        stopping (or before it started) the update is dropped: a client learns it from the order
        book."""
        self._broadcast(order_update_message(order).decode(), wait=False)

    def send_malformed(self) -> None:
        """A two-packet frame cut short: its packet lengths overrun its size."""
        self._broadcast(truncated_frame(encode_frame([bytes(8), bytes(8)])))

    # -- the protocol ----------------------------------------------------------------------------

    def _process_request(self, conn, request):
        """The credentials ride in the URL; a wrong pair is refused before the upgrade."""
        query = parse_qs(urlsplit(request.path).query)
        token_ok = query.get("access_token", [""])[0] == self._access_token
        key_ok = self._api_key is None or query.get("api_key", [""])[0] == self._api_key
        if token_ok and key_ok and query.get("api_key"):
            return None
        self.connections_rejected += 1
        return conn.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")

    def _new_session(self, conn) -> _Session:
        return _Session(conn)

    async def _receive(self, session: Session, message) -> None:
        assert isinstance(session, _Session)    # every session here comes from _new_session
        if isinstance(message, str):
            with self._lock:   # `subscriptions` reads the modes from other threads
                session.apply(message)

    def _encode_live(self, quotes: list, modes: dict) -> bytes:
        return encode_quotes(quotes, modes.__getitem__)

    async def _keepalive(self, session: Session) -> None:
        """Kite's heartbeat: one byte every heartbeat_s, subscribed or not."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if not session.silent:
                await self._send(session, HEARTBEAT)
