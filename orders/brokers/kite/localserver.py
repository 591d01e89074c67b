"""KiteLocalServer: a threaded HTTP server on 127.0.0.1 that speaks the Kite REST subset OTrade uses.

Routes (served at `/`, because the SDK urljoins them onto its root): POST /orders/{variety},
PUT|DELETE /orders/{variety}/{order_id}, GET /orders, /orders/{order_id}, /orders/{order_id}/trades,
/trades, /portfolio/positions, GET|POST /gtt/triggers, GET|DELETE /gtt/triggers/{id}, and
POST /session/token (the request-token exchange, checksum sha256(api_key + request_token +
api_secret); request tokens come from `issue_request_token()` and are single-use). Every other
route needs `X-Kite-Version: 3` and `Authorization: token <api_key>:<access_token>`, else a 400
InputException / 403 TokenException, exactly the envelopes the SDK maps to its exceptions.

Matching is the paper broker's fill model (localexchange.py wraps a durable PaperBroker); the server
makes no prices: feed it ticks with `on_ticks(rows)`. Failure switches for tests, `fail_next(mode, n,
delay_s=, route=)`: "429" / "500" / "502" / "503" / "token" / "permission" / "margin" / "order" answer
the next n matching requests with that error; "delay" waits delay_s and then serves the request;
"accept_timeout" serves it (the order IS recorded) and then waits delay_s before answering, so a client
with a shorter timeout gives up: the in-doubt placement; "drop" waits delay_s and closes the connection
without serving. Waits end early on stop(), so stop() never hangs on them. HTTP/1.0 (one request per
connection), so no idle keep-alive connection outlives a request; stop() joins every handler thread.
"""

import hashlib
import http.server
import secrets as _random
import threading
import traceback
from dataclasses import dataclass
from urllib.parse import urlsplit

from orders.brokers.kite.credentials import LOCAL_ACCESS_TOKEN, LOCAL_API_KEY
from orders.brokers.kite.localexchange import LocalExchange
from orders.brokers.kite.localprotocol import (CANNED, KiteError, canned, decode_form, error_body,
                                               success_body)
from orders.brokers.kite.localroutes import route

LOCAL_API_SECRET = "local-secret"
WAIT_MODES = ("delay", "accept_timeout", "drop")


@dataclass
class _Failure:
    mode: str
    left: int
    delay_s: float
    route: str | None      # "POST /orders" matches that method and any path starting with it


class KiteLocalServer:
    """Parameters
    ----------
    port : 0 picks a free port (see `url` after start()).
    instruments : INSTRUMENT_DTYPE rows or an InstrumentTable.
    paper_journal : journal file of the wrapped PaperBroker (durable; reopened if it exists).
    api_key, access_token, api_secret : the credentials this server accepts.
    max_fill_qty_per_tick, slippage_ticks : the paper fill model's knobs (partial fills, slippage).
    """

    def __init__(self, port: int = 0, *, instruments, paper_journal: str, api_key: str = LOCAL_API_KEY,
                 access_token: str = LOCAL_ACCESS_TOKEN, api_secret: str = LOCAL_API_SECRET,
                 max_fill_qty_per_tick: int = 0, slippage_ticks: int = 0):
        self.exchange = LocalExchange(instruments, paper_journal,
                                      max_fill_qty_per_tick=max_fill_qty_per_tick,
                                      slippage_ticks=slippage_ticks)
        self._port = int(port)
        self._api_key, self._access_token, self._api_secret = api_key, access_token, api_secret
        self._auth = f"token {api_key}:{access_token}"
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._request_tokens: set[str] = set()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None
        self.requests: list[tuple[str, str]] = []    # (method, path) of every request received
        self.internal_errors: list[str] = []         # tracebacks of server bugs (tests assert none)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> "KiteLocalServer":
        self._httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
        self._httpd.app = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="kite-local-server", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        """Stop serving, end pending waits, join every thread, close the paper journal. Idempotent."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()       # joins the handler threads
            self._thread.join()
            self._httpd = None
        self.exchange.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- test controls

    def on_ticks(self, rows) -> None:
        """Match TICK_DTYPE rows (seq increasing) against working orders and GTTs."""
        self.exchange.on_ticks(rows)

    def fail_next(self, mode: str, n: int = 1, *, delay_s: float = 5.0, route: str | None = None):
        if mode not in CANNED and mode not in WAIT_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; one of {sorted(CANNED) + list(WAIT_MODES)}")
        with self._lock:
            self._failures.append(_Failure(mode, int(n), float(delay_s), route))

    def issue_request_token(self) -> str:
        """A fresh single-use request token, as Kite's login redirect would hand one out."""
        token = _random.token_hex(16)
        with self._lock:
            self._request_tokens.add(token)
        return token

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
        if mode in ("delay", "drop"):
            self._stopping.wait(failure.delay_s)
            if mode == "drop":
                handler.close_connection = True
                return
        try:
            if mode in CANNED:
                raise canned(mode)
            form = decode_form(body if method in ("POST", "PUT") else url.query)
            status, payload = 200, success_body(self._dispatch(method, path, form, handler.headers))
        except KiteError as e:
            status, payload = e.http_status, error_body(e)
        except Exception:  # noqa: BLE001 - a server bug answers 500 and is kept for the test to see
            self.internal_errors.append(traceback.format_exc())
            status, payload = 500, error_body(KiteError(500, "GeneralException", "local server error"))
        if mode == "accept_timeout":
            self._stopping.wait(failure.delay_s)
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

    def _dispatch(self, method: str, path: str, form: dict, headers):
        name, args = route(method, path)
        if name == "session":
            return self._session(form)
        if headers.get("X-Kite-Version") != "3":
            raise KiteError(400, "InputException", "Invalid or missing X-Kite-Version header.")
        if headers.get("Authorization") != self._auth:
            raise KiteError(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        ex = self.exchange
        handlers = {
            "place": lambda: ex.place(args["variety"], form),
            "modify": lambda: ex.modify(args["variety"], args["order_id"], form),
            "cancel": lambda: ex.cancel(args["variety"], args["order_id"]),
            "orders": ex.orders, "trades": lambda: ex.trades(),
            "order_history": lambda: ex.order_history(args["order_id"]),
            "order_trades": lambda: ex.trades(args["order_id"]),
            "positions": ex.positions, "gtts": ex.gtts, "place_gtt": lambda: ex.place_gtt(form),
            "gtt": lambda: ex.get_gtt(int(args["trigger_id"])),
            "delete_gtt": lambda: ex.delete_gtt(int(args["trigger_id"])),
        }
        return handlers[name]()

    def _session(self, form: dict) -> dict:
        """POST /session/token: exchange a request token for the access token."""
        api_key, request_token = form.get("api_key", ""), form.get("request_token", "")
        if not api_key or not request_token or not form.get("checksum"):
            raise KiteError(400, "InputException", "Missing `api_key`, `request_token` or `checksum`.")
        expected = hashlib.sha256((api_key + request_token + self._api_secret).encode()).hexdigest()
        with self._lock:
            if api_key != self._api_key or request_token not in self._request_tokens:
                raise KiteError(403, "TokenException", "Token is invalid or has expired.")
            if form["checksum"] != expected:
                raise KiteError(403, "TokenException", "Invalid `checksum`.")
            self._request_tokens.discard(request_token)
        return {"user_type": "individual", "email": "local@example.invalid", "user_name": "Local",
                "user_shortname": "Local", "broker": "ZERODHA", "exchanges": ["NSE", "NFO", "BSE"],
                "products": ["CNC", "NRML", "MIS"], "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "avatar_url": None, "user_id": "LOCAL1", "api_key": api_key,
                "access_token": self._access_token, "public_token": "local-public",
                "refresh_token": "", "silo": "", "login_time": self.exchange.now_ist(),
                "meta": {"demat_consent": "physical"}}


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = False      # server_close() joins them (block_on_close)
    allow_reuse_address = True

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
