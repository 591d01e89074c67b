"""A local Upstox Market Data Feed V3 on 127.0.0.1: the REST authorize call and the protobuf websocket.

- REST: GET /v3/feed/market-data-feed/authorize with `Authorization: Bearer <access_token>` returns
  the real envelope `{"status": "success", "data": {"authorized_redirect_uri": "ws://HOST:PORT/v3/feed/
  market-data-feed?requestId=..&code=..", "authorizedRedirectUri": ...}}`; a wrong token gets 401 with
  errorCode UDAPI100050 (brokers.md §2.3, §2.4). Each URL's code works once, as Upstox's does; a reused
  or unknown code is refused with 403 before the upgrade.
- Websocket: a market_info message on connect; requests are JSON in binary frames (text frames are
  ignored, as the SDK never sends them); `sub` answers with an initial_feed snapshot of the new keys,
  then every `interval_s` a live_feed message carries what `tick_provider(keys)` returns for the
  subscribed keys, each in its mode; a websocket ping every `ping_interval_s` (Upstox's only keepalive).
- Failure switches for tests: `go_silent()` (open connections get nothing more, not even pings, and
  are no longer read, so they answer no ping either: a hung server), `drop_connections()` (TCP abort, no
  close frame), `send_malformed()`, `send_binary(raw)`, `reject_token()` (the token stops working, as at
  03:30 IST), `fail_authorize(status, times)`.

One port serves both, on its own asyncio loop on one thread, like feed/localserver/kite_ticker.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
import uuid
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from feed.sources.upstox.decode import TYPE_INITIAL_FEED
from feed.sources.upstox.encode import feed_response, market_info_message, truncated_message
from feed.sources.upstox.protocol import (AUTHORIZE_PATH, ERROR_INVALID_TOKEN, METHOD_UNSUB, authorize_response,
                                          error_response, parse_request)

log = logging.getLogger(__name__)

FEED_PATH = "/v3/feed/market-data-feed"
_ERROR_CODES = {429: "UDAPI10005", 500: "UDAPI100500", 503: "UDAPI100500"}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _json(status: int, body: bytes) -> Response:
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    return Response(status, HTTPStatus(status).phrase, headers, body)


class _Session:
    """One client connection: its subscriptions (key -> mode) and whether it went silent."""

    def __init__(self, conn):
        self.conn = conn
        self.modes: dict[str, str] = {}
        self.silent = False


class UpstoxFeedServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, access_token: str, tick_provider,
                 interval_s: float = 0.1, ping_interval_s: float = 1.0, market_status: dict | None = None):
        """`tick_provider(keys: list[str]) -> iterable of UpstoxQuote` is called on the server's thread
        for each snapshot and once per interval per connection."""
        self.host, self._port = host, port
        self._access_token = access_token
        self._provider = tick_provider
        self.interval_s, self.ping_interval_s = interval_s, ping_interval_s
        self.market_status = dict(market_status or {"NSE_EQ": "NORMAL_OPEN", "NSE_INDEX": "NORMAL_OPEN"})
        self._lock = threading.Lock()
        self._sessions: set[_Session] = set()
        self._codes: set[str] = set()
        self._token_rejected = False
        self._failures: list[int] = []
        self.authorize_calls = self.authorize_rejected = 0
        self.connections_accepted = self.connections_rejected = 0
        self.sub_requests = self.text_requests_ignored = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "UpstoxFeedServer":
        """Listen (blocking until the port is bound) and serve on a daemon thread."""
        ready, failure = threading.Event(), []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), daemon=True,
                                        name="upstox-feed-server")
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Abort every connection, stop listening, join the thread. Safe to call twice."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The REST host to configure (broker.upstox.host)."""
        return f"http://{self.host}:{self._port}"

    @property
    def subscriptions(self) -> dict[str, str]:
        """key -> mode over every connection that is being served (not silenced)."""
        with self._lock:
            return {k: m for s in self._sessions if not s.silent for k, m in s.modes.items()}

    @property
    def open_connections(self) -> int:
        """Connections being served; a silenced one no longer counts (it is never read again)."""
        with self._lock:
            return sum(not s.silent for s in self._sessions)

    # -- switches --------------------------------------------------------------------------------

    def send_binary(self, message: bytes) -> None:
        self._broadcast(bytes(message))

    def send_malformed(self) -> None:
        """A FeedResponse cut short inside a feed: undecodable."""
        self._broadcast(truncated_message())

    def go_silent(self) -> None:
        """Open connections stay open but get nothing (no data, no pings) and are not read (no pongs);
        new connections are served normally."""
        with self._lock:
            sessions = [s for s in self._sessions if not s.silent]
            for s in sessions:
                s.silent = True
        for s in sessions:
            self._loop.call_soon_threadsafe(s.conn.transport.pause_reading)

    def drop_connections(self) -> None:
        """Abort every connection's TCP socket without a websocket close."""
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            self._loop.call_soon_threadsafe(s.conn.transport.abort)

    def reject_token(self) -> None:
        """From now on the access token is refused (401), as Upstox does once it expires."""
        with self._lock:
            self._token_rejected = True

    def fail_authorize(self, status: int, times: int = 1) -> None:
        """The next `times` authorize calls answer HTTP `status` (429, 500, ...) with an error envelope."""
        with self._lock:
            self._failures.extend([status] * times)

    def _broadcast(self, message) -> None:
        """Send to every connection that is not silent; from another thread, return once written."""
        with self._lock:
            sessions = [s for s in self._sessions if not s.silent]
        futures = [asyncio.run_coroutine_threadsafe(self._send(s, message), self._loop) for s in sessions]
        if threading.current_thread() is not self._thread:  # on the loop itself, waiting would deadlock
            for f in futures:
                f.result(timeout=5.0)

    # -- HTTP: authorize, and the check before a websocket upgrade ----------------------------------

    def _process_request(self, conn, request):
        parts = urlsplit(request.path)
        if parts.path == AUTHORIZE_PATH:
            return self._authorize(request)
        if parts.path != FEED_PATH:
            return conn.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        code = parse_qs(parts.query).get("code", [""])[0]
        with self._lock:
            known = code in self._codes
            self._codes.discard(code)     # single use
            if not known:
                self.connections_rejected += 1
        return None if known else conn.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")

    def _authorize(self, request) -> Response:
        with self._lock:
            self.authorize_calls += 1
            status = self._failures.pop(0) if self._failures else 0
            token_ok = (not self._token_rejected
                        and request.headers.get("Authorization", "") == f"Bearer {self._access_token}")
            if status == 0 and not token_ok:
                self.authorize_rejected += 1
                status = 401
            code = secrets.token_urlsafe(12)
            if status == 0:
                self._codes.add(code)
        if status == 401:
            return _json(401, error_response(ERROR_INVALID_TOKEN, "Invalid token used to access API"))
        if status:
            return _json(status, error_response(_ERROR_CODES.get(status, str(status)), "Injected failure"))
        uri = f"ws://{self.host}:{self._port}{FEED_PATH}?requestId={uuid.uuid4()}&code={code}"
        return _json(200, authorize_response(uri))

    # -- the loop --------------------------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve(ready))
        except OSError as e:  # bind failed: start() re-raises it
            failure.append(e)
            ready.set()
        finally:
            self._loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        async with serve(self._handle, self.host, self._port, process_request=self._process_request,
                         ping_interval=None, compression=None) as server:
            self._port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopping.wait()
            with self._lock:
                sessions = list(self._sessions)
            for s in sessions:
                s.conn.transport.abort()

    async def _handle(self, conn) -> None:
        session = _Session(conn)
        with self._lock:
            self._sessions.add(session)
            self.connections_accepted += 1
        tasks = [asyncio.create_task(self._stream(session)), asyncio.create_task(self._ping(session))]
        try:
            await self._send(session, market_info_message(self.market_status, _now_ms()))
            async for message in conn:
                if isinstance(message, str):
                    self.text_requests_ignored += 1
                    continue
                await self._apply(session, message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._sessions.discard(session)
            for t in tasks:
                t.cancel()

    async def _apply(self, session: _Session, payload: bytes) -> None:
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
        quotes = self._quotes(session, set(req.keys))
        if quotes:
            modes = dict(session.modes)
            await self._send(session, feed_response(quotes, modes.__getitem__, TYPE_INITIAL_FEED, _now_ms()))

    def _quotes(self, session: _Session, keys: set) -> list | None:
        try:
            return [q for q in self._provider(sorted(keys)) if q.key in keys]
        except Exception:  # a broken provider must be visible, not a silent feed
            log.exception("upstox feed tick_provider failed; dropping the connection")
            session.conn.transport.abort()
            return None

    async def _stream(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            with self._lock:
                modes = dict(session.modes)
            if session.silent or not modes:
                continue
            quotes = self._quotes(session, set(modes))
            if quotes is None:
                return
            if quotes:
                await self._send(session, feed_response(quotes, modes.__getitem__, current_ts_ms=_now_ms()))

    async def _ping(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            if session.silent:
                continue
            try:
                await session.conn.ping()   # the pong waiter is not awaited: nobody needs it
            except ConnectionClosed:
                return

    @staticmethod
    async def _send(session: _Session, message) -> None:
        if session.silent:
            return
        try:
            await session.conn.send(message)
        except ConnectionClosed:
            pass
