"""A local Upstox Market Data Feed V3 on 127.0.0.1: the REST authorize call and the protobuf
websocket.

- REST: GET /v3/feed/market-data-feed/authorize with `Authorization: Bearer <access_token>` returns
  the real envelope `{"status": "success", "data": {"authorized_redirect_uri":
  "ws://HOST:PORT/v3/feed/ market-data-feed?requestId=..&code=..", "authorizedRedirectUri": ...}}`;
  a wrong token gets 401 with errorCode UDAPI100050 (brokers.md §2.3, §2.4). Each URL's code works
  once, as Upstox's does; a reused or unknown code is refused with 403 before the upgrade.
- Websocket: a market_info message on connect; requests are JSON in binary frames (text frames are
  ignored, as the SDK never sends them); `sub` answers with an initial_feed snapshot of the new
  keys, then every `interval_s` a live_feed message carries what `tick_provider(keys)` returns for
  the subscribed keys, each in its mode; a websocket ping every `ping_interval_s` (Upstox's only
  keepalive).
- Portfolio stream (order updates): GET /v2/feed/portfolio-stream-feed/authorize (same envelope and
  token check) hands out a single-use ws://HOST:PORT/upstox-developer-api/order-updates/feed URL
  (the path of Upstox's documented sample); such a connection gets no market data, only what
  `send_order_update(row)` pushes (an order-book row as Upstox's JSON text message), and pings.
- Failure switches for tests: `go_silent()` (open connections get nothing more, not even pings, and
  are no longer read, so they answer no ping either: a hung server), `drop_connections()` (TCP
  abort, no close frame), `send_malformed()`, `send_binary(raw)`, `reject_token()` (the token stops
  working, as at 03:30 IST), `fail_authorize(status, times)`.

One port serves both, on its own asyncio loop on one thread (localvenue/feeds/wsserver.py, shared
with the Kite ticker).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from feed.sources.upstox.decode import TYPE_INITIAL_FEED
from feed.sources.upstox.encode import feed_response, market_info_message, truncated_message
from feed.sources.upstox.orderstream import PORTFOLIO_AUTHORIZE_PATH, order_update_message
from feed.sources.upstox.protocol import (
    AUTHORIZE_PATH,
    ERROR_INVALID_TOKEN,
    METHOD_UNSUB,
    authorize_response,
    error_response,
    parse_request,
)
from localvenue.feeds.wsserver import LocalWsServer, Session

FEED_PATH = "/v3/feed/market-data-feed"
PORTFOLIO_PATH = "/upstox-developer-api/order-updates/feed"
_SOCKET_OF = {AUTHORIZE_PATH: FEED_PATH, PORTFOLIO_AUTHORIZE_PATH: PORTFOLIO_PATH}
_ERROR_CODES = {429: "UDAPI10005", 500: "UDAPI100500", 503: "UDAPI100500"}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _json(status: int, body: bytes) -> Response:
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    return Response(status, HTTPStatus(status).phrase, headers, body)


class _FeedSession(Session):
    """A connection, and whether it is the portfolio stream rather than market data."""

    def __init__(self, conn, portfolio: bool):
        super().__init__(conn)
        self.portfolio = portfolio


def _is_portfolio(session: Session) -> bool:
    return isinstance(session, _FeedSession) and session.portfolio


class UpstoxFeedServer(LocalWsServer):
    thread_name = "upstox-feed-server"
    quote_key = "key"
    silence_stops_reading = True     # go_silent(): a hung server, which answers no ping either

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_token: str,
        tick_provider,
        interval_s: float = 0.1,
        ping_interval_s: float = 1.0,
        market_status: dict | None = None,
    ):
        """`tick_provider(keys: list[str]) -> iterable of UpstoxQuote` is called on the server's
        thread for each snapshot and once per interval per connection."""
        super().__init__(host, port, tick_provider=tick_provider, interval_s=interval_s)
        self._access_token = access_token
        self.ping_interval_s = ping_interval_s
        self.market_status = dict(
            market_status or {"NSE_EQ": "NORMAL_OPEN", "NSE_INDEX": "NORMAL_OPEN"}
        )
        self._codes: dict[str, str] = {}     # single-use code -> the socket path it opens
        self._token_rejected = False
        self._failures: list[int] = []
        self.authorize_calls = self.authorize_rejected = 0
        self.sub_requests = self.text_requests_ignored = 0
        self.order_updates_sent = 0

    @property
    def url(self) -> str:
        """The REST host to configure (broker.upstox.host)."""
        return f"http://{self.host}:{self._port}"

    # -- switches --------------------------------------------------------------------------------

    def send_malformed(self) -> None:
        """A FeedResponse cut short inside a feed: undecodable."""
        self._broadcast(truncated_message())

    def send_order_update(self, row: dict) -> None:
        """Push one order-book row, as Upstox's portfolio stream does, to every order-update
        connection; returns at once. Before start() or once stopping it is dropped: a client learns
        the change from the order book."""
        if self._loop is None:
            return
        message = order_update_message(row)
        with self._lock:
            sessions = [
                s for s in self._sessions if getattr(s, "portfolio", False) and not s.silent
            ]
            self.order_updates_sent += len(sessions)
        for s in sessions:
            coro = self._send(s, message)
            try:
                asyncio.run_coroutine_threadsafe(coro, self._loop)
            except RuntimeError:   # the loop closed under us
                coro.close()
                return

    def reject_token(self) -> None:
        """From now on the access token is refused (401), as Upstox does once it expires."""
        with self._lock:
            self._token_rejected = True

    def fail_authorize(self, status: int, times: int = 1) -> None:
        """The next `times` authorize calls answer HTTP `status` (429, 500, ...) with an error
        envelope."""
        with self._lock:
            self._failures.extend([status] * times)

    # -- HTTP: authorize, and the check before a websocket upgrade
    # ----------------------------------

    def _process_request(self, conn, request):
        parts = urlsplit(request.path)
        if parts.path in _SOCKET_OF:
            return self._authorize(request, _SOCKET_OF[parts.path])
        if parts.path not in (FEED_PATH, PORTFOLIO_PATH):
            return conn.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        code = parse_qs(parts.query).get("code", [""])[0]
        with self._lock:
            known = self._codes.pop(code, None) == parts.path     # single use, for its own socket
            if not known:
                self.connections_rejected += 1
        return None if known else conn.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")

    def _authorize(self, request, socket_path: str) -> Response:
        with self._lock:
            self.authorize_calls += 1
            status = self._failures.pop(0) if self._failures else 0
            token_ok = (
                not self._token_rejected
                and request.headers.get("Authorization", "") == f"Bearer {self._access_token}"
            )
            if status == 0 and not token_ok:
                self.authorize_rejected += 1
                status = 401
            code = secrets.token_urlsafe(12)
            if status == 0:
                self._codes[code] = socket_path
        if status == 401:
            return _json(
                401, error_response(ERROR_INVALID_TOKEN, "Invalid token used to access API")
            )
        if status:
            return _json(
                status, error_response(_ERROR_CODES.get(status, str(status)), "Injected failure")
            )
        uri = f"ws://{self.host}:{self._port}{socket_path}?requestId={uuid.uuid4()}&code={code}"
        return _json(200, authorize_response(uri))

    # -- the websocket ----------------------------------------------------------------------------

    def _new_session(self, conn) -> Session:
        return _FeedSession(conn, portfolio=urlsplit(conn.request.path).path == PORTFOLIO_PATH)

    async def _greet(self, session: Session) -> None:
        if not _is_portfolio(session):
            await self._send(session, market_info_message(self.market_status, _now_ms()))

    def _stream_keys(self, modes: dict) -> list:
        return sorted(modes)

    def _encode_live(self, quotes: list, modes: dict) -> bytes:
        return feed_response(quotes, modes.__getitem__, current_ts_ms=_now_ms())

    async def _receive(self, session: Session, payload) -> None:
        if isinstance(payload, str) or _is_portfolio(session):   # the portfolio stream takes none
            self.text_requests_ignored += 1
            return
        await self._apply(session, payload)

    async def _apply(self, session: Session, payload: bytes) -> None:
        req = parse_request(payload)
        if req is None:
            return
        with self._lock:   # `subscriptions` reads the modes from other threads
            if req.method == METHOD_UNSUB:
                for k in req.keys:
                    session.modes.pop(k, None)
                return
            self.sub_requests += 1
            for k in req.keys:
                session.modes[k] = req.mode
        quotes = self._quotes(session, sorted(set(req.keys)))
        if quotes:
            modes = dict(session.modes)
            await self._send(
                session, feed_response(quotes, modes.__getitem__, TYPE_INITIAL_FEED, _now_ms())
            )

    async def _keepalive(self, session: Session) -> None:
        """A websocket ping every ping_interval_s: Upstox's only keepalive."""
        while True:
            await asyncio.sleep(self.ping_interval_s)
            if session.silent:
                continue
            try:
                await session.conn.ping()   # the pong waiter is not awaited: nobody needs it
            except ConnectionClosed:
                return
