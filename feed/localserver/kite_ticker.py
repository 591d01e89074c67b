"""A local KiteTicker server on 127.0.0.1 that speaks Kite's websocket protocol as the real one does.

- Handshake: `?api_key=..&access_token=..` in the URL; a wrong or missing pair is refused with
  HTTP 403 before the upgrade, which pykiteconnect reports as "1006 ... WebSocket connection upgrade
  failed (403 - Forbidden)" (brokers.md §1.8, pykiteconnect issue #102).
- Requests: subscribe (new tokens stream in quote mode), mode ltp/quote/full per token, unsubscribe.
- Stream: every `interval_s`, one binary frame per connection with a packet for each quote that
  `tick_provider(tokens)` returns for that connection's subscribed tokens, in each token's mode; a
  1-byte heartbeat every `heartbeat_s`, subscribed or not.
- Text: `send_text(obj)` pushes JSON (`{"type": "order", "data": {...}}`, `{"type": "error", ...}`).
- Failure switches for tests: `go_silent()` (connections stay open, nothing at all is sent),
  `drop_connections()` (TCP abort, no close frame), `send_malformed()`, `send_binary(raw)`.

It runs its own asyncio loop on one thread, so it lives equally in a test process or inside a local
"exchange" process, independent of the Twisted reactor that the SDK client uses.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from feed.sources.kite.frames import HEARTBEAT, encode_frame, encode_quotes, truncated_frame
from feed.sources.kite.protocol import (ACTION_MODE, ACTION_SUBSCRIBE, MODE_QUOTE,
                                        parse_client_request)

log = logging.getLogger(__name__)


class _Session:
    """One client connection: its subscriptions (token -> mode) and whether it went silent."""

    def __init__(self, conn):
        self.conn = conn
        self.modes: dict[int, str] = {}
        self.silent = False

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


class KiteTickerServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, access_token: str,
                 tick_provider, api_key: str | None = None, interval_s: float = 0.1,
                 heartbeat_s: float = 1.0):
        """`tick_provider(tokens: list[int]) -> iterable of KiteQuote` is called on the server's thread
        once per interval per connection; `api_key=None` accepts any api_key."""
        self.host, self._port = host, port
        self._access_token, self._api_key = access_token, api_key
        self._provider = tick_provider
        self.interval_s, self.heartbeat_s = interval_s, heartbeat_s
        self._lock = threading.Lock()
        self._sessions: set[_Session] = set()
        self.connections_accepted = 0
        self.connections_rejected = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "KiteTickerServer":
        """Listen (blocking until the port is bound) and serve on a daemon thread."""
        ready, failure = threading.Event(), []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), daemon=True,
                                        name="kite-ticker-server")
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
        return f"ws://{self.host}:{self._port}"

    @property
    def subscriptions(self) -> dict[int, str]:
        """token -> mode over every open connection."""
        with self._lock:
            return {t: m for s in self._sessions for t, m in s.modes.items()}

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._sessions)

    # -- switches --------------------------------------------------------------------------------

    def send_text(self, obj) -> None:
        """JSON-encode `obj` (a dict, or bytes already encoded) and send it to every connection."""
        data = obj if isinstance(obj, (bytes, str)) else orjson.dumps(obj)
        self._broadcast(data.decode() if isinstance(data, bytes) else data)

    def send_binary(self, frame: bytes) -> None:
        self._broadcast(bytes(frame))

    def send_malformed(self) -> None:
        """A two-packet frame cut short: its packet lengths overrun its size."""
        self._broadcast(truncated_frame(encode_frame([bytes(8), bytes(8)])))

    def go_silent(self) -> None:
        """Connections open now stay open but get nothing more, not even heartbeats; new ones are
        served normally (a silent-dead socket, pykiteconnect issue #229)."""
        with self._lock:
            for s in self._sessions:
                s.silent = True

    def drop_connections(self) -> None:
        """Abort every connection's TCP socket without a websocket close."""
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            self._loop.call_soon_threadsafe(s.conn.transport.abort)

    def _broadcast(self, message) -> None:
        """Send to every connection that is not silent; from another thread, return once written."""
        with self._lock:
            sessions = [s for s in self._sessions if not s.silent]
        futures = [asyncio.run_coroutine_threadsafe(self._send(s, message), self._loop) for s in sessions]
        if threading.current_thread() is not self._thread:  # on the loop itself, waiting would deadlock
            for f in futures:
                f.result(timeout=5.0)

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
        async with serve(self._handle, self.host, self._port, process_request=self._check_credentials,
                         ping_interval=None, compression=None) as server:
            self._port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopping.wait()
            with self._lock:
                sessions = list(self._sessions)
            for s in sessions:
                s.conn.transport.abort()

    def _check_credentials(self, conn, request):
        query = parse_qs(urlsplit(request.path).query)
        token_ok = query.get("access_token", [""])[0] == self._access_token
        key_ok = self._api_key is None or query.get("api_key", [""])[0] == self._api_key
        if token_ok and key_ok and query.get("api_key"):
            return None
        self.connections_rejected += 1
        return conn.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")

    async def _handle(self, conn) -> None:
        session = _Session(conn)
        with self._lock:
            self._sessions.add(session)
            self.connections_accepted += 1
        tasks = [asyncio.create_task(self._stream(session)), asyncio.create_task(self._heartbeat(session))]
        try:
            async for message in conn:
                if isinstance(message, str):
                    with self._lock:   # `subscriptions` reads the modes from other threads
                        session.apply(message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._sessions.discard(session)
            for t in tasks:
                t.cancel()

    async def _stream(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if session.silent or not session.modes:
                continue
            modes = dict(session.modes)
            try:
                quotes = [q for q in self._provider(list(modes)) if q.token in modes]
            except Exception:  # a broken provider must be visible, not a silent feed
                log.exception("kite ticker tick_provider failed; dropping the connection")
                session.conn.transport.abort()
                return
            if quotes:
                await self._send(session, encode_quotes(quotes, modes.__getitem__))

    async def _heartbeat(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if not session.silent:
                await self._send(session, HEARTBEAT)

    @staticmethod
    async def _send(session: _Session, message) -> None:
        if session.silent:
            return
        try:
            await session.conn.send(message)
        except ConnectionClosed:
            pass
