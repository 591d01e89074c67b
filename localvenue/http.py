"""LocalRestServer: the HTTP half every local broker server shares (kite/ and upstox/server.py).

A ThreadingHTTPServer on 127.0.0.1 on its own thread, the failure switches tests flip
(`fail_next(mode, n, delay_s=, route=)`), the log of requests (`count(method, path_prefix)`) and the
one request path: read the body, apply a switched-on failure, let the broker's subclass answer,
render an error as that broker's envelope. What stays the broker's: its routes, auth, envelopes and
error type, through four hooks:

    CANNED                      mode -> (HTTP status, error code/type, message) of its canned errors
    error_type                  the exception class its exchange raises:
                                (http_status, code, message)
    _answer(method, path, query, body, headers) -> bytes    a 200's body
    _error_body(error) -> bytes                             an error's body

Wait modes, for every broker: "delay" waits delay_s and then serves; "accept_timeout" serves (an
order IS recorded) and then waits delay_s before answering, so a client with a shorter timeout gives
up: the in-doubt placement; "drop" waits and closes the connection without serving. Waits end early
on stop(), so stop() never hangs on them. HTTP/1.0 (one request per connection), so no idle
keep-alive connection outlives a request; stop() joins every handler thread.

Poison switches, for tests of what the adapters make of malformed replies: `fail_next("reply", n,
body=b'...', route=)` answers 200 with exactly that body (`{"status": "success", "data": null}`, a
string, ...), and `plant(route, rows)` adds `rows` (anything JSON: a row with "quantity": "ten", a
bare string) after the venue's own in the `data` list of every answer on that route until
`plant(route, [])`.
"""

import http.server
import secrets
import threading
import traceback
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

WAIT_MODES = ("delay", "accept_timeout", "drop")
REPLY_MODE = "reply"


@dataclass
class _Failure:
    mode: str
    left: int
    delay_s: float
    route: str | None      # "POST /orders" matches that method and any path starting with it
    body: bytes = b""      # REPLY_MODE: the 200's body


class LocalRestServer:
    """Base class; `exchange` has on_ticks(rows) and close(). Subclasses set CANNED, error_type,
    internal_error and thread_name, and implement _answer and _error_body."""

    CANNED: dict[str, tuple] = {}
    error_type: type[Any] = Exception   # raised with (http_status, code, message): .http_status
    internal_error: tuple = (500, "", "local server error")   # what a server bug answers
    thread_name = "local-rest-server"

    def __init__(self, port: int, exchange):
        self.exchange = exchange
        self._port = int(port)
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[tuple[str, str]] = []    # (method, path) of every request received
        self.internal_errors: list[str] = []         # tracebacks of server bugs (tests assert none)
        self._login_codes: set[str] = set()          # issued, not yet exchanged for a token
        self._planted: dict[str, list] = {}          # "GET /orders" -> rows added to its answers

    # ---------------------------------------------------------------- lifecycle

    def start(self):
        httpd = self._httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
        httpd.app = self
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        """Stop serving, end pending waits, join every thread, close the paper journal.
        Idempotent."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()       # joins the handler threads
            if self._thread is not None:
                self._thread.join()
            self._httpd = None
        self.exchange.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- test controls

    def on_ticks(self, rows) -> None:
        """Match TICK_DTYPE rows (seq increasing) against the working orders."""
        self.exchange.on_ticks(rows)

    def fail_next(self, mode: str, n: int = 1, *, delay_s: float = 5.0, route: str | None = None,
                  body: bytes = b""):
        modes = sorted(self.CANNED) + list(WAIT_MODES) + [REPLY_MODE]
        if mode not in modes:
            raise ValueError(f"unknown failure mode {mode!r}; one of {modes}")
        with self._lock:
            self._failures.append(_Failure(mode, int(n), float(delay_s), route, bytes(body)))

    def clear_failures(self) -> None:
        """Switch off every pending failure: the venue answers normally again."""
        with self._lock:
            self._failures.clear()

    def plant(self, route: str, rows: list) -> None:
        """Serve `rows` after the venue's own rows on `route` ("GET /orders", matched whole)."""
        with self._lock:
            self._planted[route] = list(rows)

    def _issue_login_code(self, nbytes: int) -> str:
        """A fresh single-use code, as a login redirect hands one out; the token exchange redeems it
        (under self._lock: `code in self._login_codes`, then discard)."""
        code = secrets.token_hex(nbytes)
        with self._lock:
            self._login_codes.add(code)
        return code

    def count(self, method: str, path_prefix: str) -> int:
        """How many requests with this method and a path starting with `path_prefix` arrived."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    # ---------------------------------------------------------------- serving

    def serve(self, handler) -> None:
        method, url = handler.command, urlsplit(handler.path)
        path = url.path.rstrip("/") or "/"
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        failure = self._take_failure(method, path)
        mode = failure.mode if failure else ""
        delay_s = failure.delay_s if failure else 0.0
        if mode in ("delay", "drop"):
            self._stopping.wait(delay_s)
            if mode == "drop":
                handler.close_connection = True
                return
        try:
            if mode in self.CANNED:
                raise self.error_type(*self.CANNED[mode])
            if mode == REPLY_MODE:
                status, payload = 200, failure.body if failure else b""
            else:
                status, payload = (
                    200,
                    self._with_planted(
                        f"{method} {path}",
                        self._answer(method, path, url.query, body, handler.headers),
                    ),
                )
        except self.error_type as e:
            status, payload = e.http_status, self._error_body(e)
        except Exception:  # noqa: BLE001 - a server bug answers 500 and is kept for the test to see
            self.internal_errors.append(traceback.format_exc())
            status, payload = 500, self._error_body(self.error_type(*self.internal_error))
        if mode == "accept_timeout":
            self._stopping.wait(delay_s)
        _respond(handler, status, payload)

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        with self._lock:
            self.requests.append((method, path))
            for failure in self._failures:
                if failure.route is None or f"{method} {path}".startswith(failure.route):
                    failure.left -= 1
                    if failure.left <= 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def _with_planted(self, route: str, payload: bytes) -> bytes:
        with self._lock:
            rows = self._planted.get(route)
        if not rows:
            return payload
        doc = orjson.loads(payload)
        doc["data"] = list(doc.get("data") or []) + rows
        return orjson.dumps(doc)

    def _answer(self, method: str, path: str, query: str, body: bytes, headers) -> bytes:
        raise NotImplementedError

    def _error_body(self, error) -> bytes:
        raise NotImplementedError


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = False      # server_close() joins them (block_on_close)
    allow_reuse_address = True
    app: "LocalRestServer"      # the server whose serve() answers every request

    def handle_error(self, request, client_address):
        """A client that gave up (timeout tests) is normal here; nothing to print."""


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10                # a client that connects and never sends cannot pin a thread

    def do_GET(self):
        self.server.app.serve(self)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format, *args):
        """Silent: tests must not depend on (or drown in) access logs."""


def _respond(handler, status: int, payload: bytes) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
    except OSError:
        handler.close_connection = True      # the client timed out and left: the in-doubt case


def decode_form(raw: bytes | str) -> dict[str, str]:
    """application/x-www-form-urlencoded (or a query string) → {key: last value}: both SDKs send one
    value per key on these routes."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
