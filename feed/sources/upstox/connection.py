"""UpstoxConnection: the one V3 feed socket (Upstox allows one per app and user) on its own thread.

The thread loops: wait out the backoff -> authorize over REST (the socket URL is single-use, so
every attempt authorizes afresh) -> connect -> subscribe (a binary frame) -> receive until the
socket is lost, the server closes it, or the watchdog trips -> back to the top. A BrokerFatal from
authorize (bad or expired token) ends the thread and reaches read() through `source.fail`; so does
running out of attempts (BrokerRetryable), and so does a bug (StageError), so nothing dies silently.

Liveness (the choice brokers.md §2.3/§2.6 asks for): Upstox has no application heartbeat and sends
websocket pings only when idle, at an interval it does not document. So every frame from the server
counts: data, its pings, and the pongs to pings we send every `watchdog_s / 3`. A quiet or closed
market therefore never trips the watchdog (the false-fire openalgo hit), while a dead TCP path or a
hung server, which answer nothing, trips it within `watchdog_s`. What this cannot see is a server
that answers pings but stopped sending one instrument's data; that is the stale-market-data risk
check's job (it looks at each instrument's last tick), not the socket's.

websocket-client (the SDK's own dependency) is used synchronously:
`recv_data_frame(control_frame=True)` hands us pings and pongs, and a receive timeout of a quarter
watchdog period lets the same thread poll the watchdog and the stop flag. Its frame reader keeps
partial frames across timeouts.
"""

from __future__ import annotations

import logging
import threading
import time

import websocket
from websocket import ABNF, WebSocketException, WebSocketTimeoutException

from common.errors import BrokerFatal, BrokerRetryable, StageError
from feed.sources.upstox.backoff import Backoff
from feed.sources.upstox.protocol import subscription_message
from feed.sources.watchdog import Watchdog

log = logging.getLogger(__name__)


class UpstoxConnection:
    def __init__(self, source, keys, options, authorize, *, what: str = "upstox feed"):
        """`authorize()` returns a fresh socket URL or raises BrokerFatal / BrokerRetryable.

        `keys` None: a push-only socket (the portfolio stream, orderstream.py) that subscribes to
        nothing and may say nothing for hours; a pong to our ping, which goes out only after
        watchdog_s / 3 of being connected, then proves the connection worked and resets the backoff.
        `what` names the socket in logs and in the thread's name."""
        self.source, self.options, self.what = source, options, what
        self.keys = None if keys is None else list(keys)
        self._authorize = authorize
        self.watchdog = Watchdog(options.watchdog_s)
        self.backoff = Backoff(options.reconnect_initial_s, options.reconnect_max_delay_s,
                               options.reconnect_max_tries)
        self.opens = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()     # guards _ws against stop() from another thread
        self._ws: websocket.WebSocket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=self.what.replace(" ", "-")
        )
        self._thread.start()

    def stop(self, grace_s: float) -> bool:
        """Close cleanly and join; abort the socket if that takes longer than `grace_s`.

        Returns False when the thread is still blocked (inside an authorize or connect call that its
        own timeout will end); it is a daemon thread and holds nothing the process needs."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(grace_s)
        if self._thread.is_alive():
            with self._lock:
                if self._ws is not None:
                    self._ws.abort()
            self._thread.join(1.0)
        return not self._thread.is_alive()

    # -- the thread
    # ------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.backoff.next_delay_s()):
                if self.backoff.exhausted:
                    self.source.fail(
                        BrokerRetryable(
                            f"{self.what} gave up after {self.backoff.failures} failed connection "
                            "attempts; "
                            "restart the feed to try again"
                        )
                    )
                    return
                ws = self._connect()
                if ws is not None:
                    self._session(ws)
        except BrokerFatal as e:
            log.error(f"{self.what} stopped", extra={"fields": {"error": str(e)}})
            self.source.fail(e)
        except Exception as e:  # noqa: BLE001 - a bug must reach read(), not end the feed silently
            log.exception(f"{self.what} thread failed")
            self.source.fail(StageError(f"{self.what} thread failed: {type(e).__name__}: {e}"))

    def _connect(self) -> websocket.WebSocket | None:
        """Authorize and open the socket; None (and one more backoff step) on a retryable
        failure."""
        try:
            url = self._authorize()
        except BrokerRetryable as e:
            self.backoff.failed()
            self.source.count("authorize_failures")
            log.warning(
                f"{self.what} authorize failed; retrying", extra={"fields": {"error": str(e)}}
            )
            return None
        try:
            ws = websocket.create_connection(url, timeout=self.options.connect_timeout_s,
                                             skip_utf8_validation=True, enable_multithread=True)
        except (WebSocketException, OSError) as e:
            self.backoff.failed()
            self.source.count("connect_failures")
            # Never the URL: its `code` is a credential. A refused upgrade carries only a status.
            status = getattr(e, "status_code", None)
            log.warning(f"{self.what} socket did not open; retrying",
                        extra={"fields": {"error": type(e).__name__, "http_status": status}})
            return None
        return ws

    def _session(self, ws: websocket.WebSocket) -> None:
        with self._lock:
            self._ws = ws
        clean = self._stop.is_set()
        try:
            if clean:
                return
            ws.settimeout(self.watchdog.poll_interval_s())
            if self.keys is not None:
                ws.send_binary(subscription_message(self.keys, self.options.mode))
            reconnect = self.opens > 0
            self.opens += 1
            self.source.on_opened(reconnect)
            self.watchdog.arm()
            log.info(f"{self.what} open", extra={"fields": {"keys": len(self.keys or ()),
                                                          "reconnect": reconnect}})
            clean = self._receive(ws)
        except (WebSocketException, OSError) as e:
            log.warning(f"{self.what} socket failed", extra={"fields": {"error": type(e).__name__}})
        finally:
            self.watchdog.disarm()
            self.backoff.failed()   # even a working feed waits one initial step before redialling
            with self._lock:
                self._ws = None
            self._close(ws, clean)

    def _receive(self, ws: websocket.WebSocket) -> bool:
        """Read until the socket ends; True when it ends because stop() was called."""
        ping_every = self.watchdog.timeout_s / 3.0
        next_ping = time.monotonic() + ping_every
        while not self._stop.is_set():
            try:
                opcode, frame = ws.recv_data_frame(control_frame=True)
            except WebSocketTimeoutException:
                pass
            except (WebSocketException, OSError) as e:
                if not self._stop.is_set():
                    log.warning(
                        f"{self.what} connection lost",
                        extra={"fields": {"error": type(e).__name__}},
                    )
                return self._stop.is_set()
            else:
                self.watchdog.feed()
                if not self._on_frame(opcode, frame):
                    return False
            if self.watchdog.expired():
                self.source.count("watchdog_trips")
                log.warning(f"{self.what} silent; dropping the connection to reconnect",
                            extra={"fields": {"watchdog_s": self.watchdog.timeout_s}})
                return False
            now = time.monotonic()
            if now >= next_ping:
                next_ping = now + ping_every
                ws.ping()
        return True

    def _on_frame(self, opcode: int, frame) -> bool:
        """Handle one frame; False when the server closed the connection."""
        if opcode == ABNF.OPCODE_BINARY:
            if self.source.on_message(frame.data):
                self.backoff.reset()   # a feed that decodes is a working feed
        elif opcode == ABNF.OPCODE_PING:
            self.source.count("pings")
        elif opcode == ABNF.OPCODE_PONG:
            self.source.count("pongs")
            if self.keys is None:
                self.backoff.reset()   # push-only: a connection that lasted to our ping worked
        elif opcode == ABNF.OPCODE_TEXT:
            if self.source.on_text(frame.data):
                self.backoff.reset()
        elif opcode == ABNF.OPCODE_CLOSE:
            code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
            log.warning(f"{self.what} closed by the server", extra={"fields": {"code": code}})
            return False
        return True

    def _close(self, ws: websocket.WebSocket, clean: bool) -> None:
        """A close frame when we chose to leave; otherwise (lost, silent, closed by the server) drop
        it."""
        try:
            if clean:
                ws.close(status=websocket.STATUS_NORMAL, timeout=1.0)
            else:
                ws.abort()
                ws.shutdown()
        except (WebSocketException, OSError):
            ws.shutdown()
