"""LocalWsServer: an asyncio websocket server on its own thread, the part both local feeds share.

kite_ticker.py and upstox_feed.py differ in what they send (Kite's binary frames and heartbeats,
Upstox's protobuf and pings) and in what they check before the upgrade; they share how they run:
one asyncio loop on one daemon thread (so a server lives equally in a test process or inside a
local "exchange" process, independent of whatever loop or reactor the SDK client uses), a set of
sessions (one per connection: its subscriptions key -> mode, and whether a test silenced it), a
stream task per session that asks `tick_provider(keys)` for quotes every `interval_s`, a keepalive
task per session, broadcasts from any thread, and a stop that aborts every connection and joins.

A subclass implements the hooks:

    _process_request(conn, request)   None to upgrade, or the HTTP response to answer instead
    _receive(session, message)        one message the client sent (async)
    _keepalive(session)               the per-session keepalive loop (async)
    _encode_live(quotes, modes)       the message carrying one interval's quotes
    quote_key                         the attribute of a quote that is its subscription key
    silence_stops_reading             whether go_silent() also stops reading those connections
and may override _greet(session) (sent on connect) and _stream_keys(modes) (the provider's order).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)


class Session:
    """One client connection: its subscriptions (key -> mode) and whether it went silent."""

    def __init__(self, conn):
        self.conn = conn
        self.modes: dict = {}
        self.silent = False


class LocalWsServer:
    thread_name = "local-ws-server"
    quote_key = "key"
    silence_stops_reading = False

    def __init__(self, host: str, port: int, *, tick_provider, interval_s: float):
        self.host, self._port = host, port
        self._provider = tick_provider
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._sessions: set[Session] = set()
        self.connections_accepted = 0
        self.connections_rejected = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self):
        """Listen (blocking until the port is bound) and serve on a daemon thread."""
        ready, failure = threading.Event(), []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), daemon=True,
                                        name=self.thread_name)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Abort every connection, stop listening, join the thread. Safe to call twice."""
        if self._thread is None or self._loop is None or self._stopping is None:
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
    def subscriptions(self) -> dict:
        """key -> mode over every connection being served."""
        with self._lock:
            return {k: m for s in self._served() for k, m in s.modes.items()}

    @property
    def open_connections(self) -> int:
        """Connections being served; one that is silenced and no longer read does not count."""
        with self._lock:
            return len(self._served())

    def _served(self) -> list[Session]:
        """Under the lock: the sessions still read from."""
        return [s for s in self._sessions if not (s.silent and self.silence_stops_reading)]

    # -- switches --------------------------------------------------------------------------------

    def send_binary(self, message: bytes) -> None:
        self._broadcast(bytes(message))

    def go_silent(self) -> None:
        """Connections open now stay open but get nothing more, not even keepalives (and, with
        silence_stops_reading, are not read either); new connections are served normally."""
        with self._lock:
            sessions = [s for s in self._sessions if not s.silent]
            for s in sessions:
                s.silent = True
        if self.silence_stops_reading:
            for s in sessions:
                self._running_loop().call_soon_threadsafe(s.conn.transport.pause_reading)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the websocket server is not running")
        return self._loop

    def drop_connections(self) -> None:
        """Abort every connection's TCP socket without a websocket close."""
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            self._running_loop().call_soon_threadsafe(s.conn.transport.abort)

    def _broadcast(self, message, wait: bool = True) -> None:
        """Send to every connection that is not silent; from another thread and with `wait`, return
        once written."""
        with self._lock:
            sessions = [s for s in self._sessions if not s.silent]
        futures = []
        for s in sessions:
            coro = self._send(s, message)
            try:
                futures.append(asyncio.run_coroutine_threadsafe(coro, self._running_loop()))
            except RuntimeError:   # the loop closed under us (stop()): nobody is left to send to
                coro.close()
                return
        # on the loop, waiting would deadlock
        if wait and threading.current_thread() is not self._thread:
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
        async with serve(self._handle, self.host, self._port, process_request=self._process_request,
                         ping_interval=None, compression=None) as server:
            self._port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopping.wait()
            with self._lock:
                sessions = list(self._sessions)
            for s in sessions:
                s.conn.transport.abort()

    def _new_session(self, conn) -> Session:
        return Session(conn)

    async def _handle(self, conn) -> None:
        session = self._new_session(conn)
        with self._lock:
            self._sessions.add(session)
            self.connections_accepted += 1
        tasks = [
            asyncio.create_task(self._stream(session)),
            asyncio.create_task(self._keepalive(session)),
        ]
        try:
            await self._greet(session)
            async for message in conn:
                await self._receive(session, message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._sessions.discard(session)
            for t in tasks:
                t.cancel()

    async def _stream(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            with self._lock:   # the reader task changes the modes under the same lock
                modes = dict(session.modes)
            if session.silent or not modes:
                continue
            quotes = self._quotes(session, self._stream_keys(modes))
            if quotes is None:
                return
            if quotes:
                await self._send(session, self._encode_live(quotes, modes))

    def _quotes(self, session: Session, keys: list) -> list | None:
        """The provider's quotes for `keys` (only those); None, with the connection aborted, when
        the provider raised."""
        wanted = set(keys)
        try:
            return [q for q in self._provider(keys) if getattr(q, self.quote_key) in wanted]
        except Exception:  # a broken provider must be visible, not a silent feed
            log.exception("%s tick_provider failed; dropping the connection", self.thread_name)
            session.conn.transport.abort()
            return None

    @staticmethod
    async def _send(session: Session, message) -> None:
        if session.silent:
            return
        try:
            await session.conn.send(message)
        except ConnectionClosed:
            pass

    # -- hooks -----------------------------------------------------------------------------------

    def _stream_keys(self, modes: dict) -> list:
        return list(modes)

    async def _greet(self, session: Session) -> None:
        """Nothing is sent on connect unless the protocol says so."""

    def _process_request(self, conn, request):
        raise NotImplementedError

    async def _receive(self, session: Session, message) -> None:
        raise NotImplementedError

    async def _keepalive(self, session: Session) -> None:
        raise NotImplementedError

    def _encode_live(self, quotes: list, modes: dict):
        raise NotImplementedError
