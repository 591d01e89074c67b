"""UpstoxLocalServer: a threaded HTTP server on 127.0.0.1 speaking the Upstox REST subset OTrade uses.

Routes: POST /v3/order/place, PUT /v3/order/modify, DELETE /v3/order/cancel?order_id=,
GET /v2/order/retrieve-all, /v2/order/trades/get-trades-for-day, /v2/portfolio/short-term-positions,
and POST /v2/login/authorization/token (form: code, client_id, client_secret, redirect_uri,
grant_type=authorization_code; codes come from `issue_auth_code()` and are single-use). Every route
but the token exchange needs `Authorization: Bearer <access token>`, else 401 UDAPI100050. Answers
are Upstox's envelopes: `{"status": "success", "data": ...}` (v3 order calls add `metadata.latency`)
and `{"status": "error", "errors": [{"errorCode", "message", ...}]}` with the HTTP status. Point
BOTH Configuration.host and .order_host at `url`.

Matching is the paper fill model (localexchange.py); the server makes no prices: feed it ticks with
`on_ticks(rows)`. Failure switches, `fail_next(mode, n, delay_s=, route=)`: "429" / "500" / "token" /
"input" answer the next n matching requests with that error; "delay" waits then serves;
"accept_timeout" serves (the order IS recorded) and then waits delay_s before answering, so a client
with a shorter timeout gives up: the in-doubt placement; "drop" waits and closes without serving.
Waits end on stop(). HTTP/1.0 (one request per connection); stop() joins every handler thread.
"""

import http.server
import secrets as _random
import threading
import traceback
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import orjson

from orders.brokers.upstox.credentials import LOCAL_ACCESS_TOKEN, LOCAL_API_KEY, LOCAL_API_SECRET
from orders.brokers.upstox.localexchange import LocalUpstoxExchange, UpstoxError

CANNED = {
    "429": (429, "UDAPI10005", "Too Many Request Sent"),
    "500": (500, "UDAPI100500", "Something went wrong, please try again later"),
    "token": (401, "UDAPI100050", "Invalid token used to access API"),
    "input": (400, "UDAPI100038", "Invalid input"),
}
WAIT_MODES = ("delay", "accept_timeout", "drop")
_ROUTES = {
    ("POST", "/v3/order/place"): "place", ("PUT", "/v3/order/modify"): "modify",
    ("DELETE", "/v3/order/cancel"): "cancel", ("GET", "/v2/order/retrieve-all"): "orders",
    ("GET", "/v2/order/trades/get-trades-for-day"): "trades",
    ("GET", "/v2/portfolio/short-term-positions"): "positions",
    ("POST", "/v2/login/authorization/token"): "token",
}


@dataclass
class _Failure:
    mode: str
    left: int
    delay_s: float
    route: str | None      # "POST /v3/order/place" matches that method and any path starting with it


class UpstoxLocalServer:
    """Parameters
    ----------
    port : 0 picks a free port (see `url` after start()).
    instruments : INSTRUMENT_DTYPE rows or an InstrumentTable (broker_key = instrument_key).
    paper_journal : journal of the wrapped PaperBroker (durable; reopened if it exists).
    api_key, api_secret, access_token : the credentials this server accepts and hands out.
    max_fill_qty_per_tick, slippage_ticks : the paper fill model's knobs.
    """

    def __init__(self, port: int = 0, *, instruments, paper_journal: str,
                 api_key: str = LOCAL_API_KEY, api_secret: str = LOCAL_API_SECRET,
                 access_token: str = LOCAL_ACCESS_TOKEN, max_fill_qty_per_tick: int = 0,
                 slippage_ticks: int = 0):
        self.exchange = LocalUpstoxExchange(instruments, paper_journal, slippage_ticks=slippage_ticks,
                                            max_fill_qty_per_tick=max_fill_qty_per_tick)
        self._port = int(port)
        self._api_key, self._api_secret, self._access_token = api_key, api_secret, access_token
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._auth_codes: set[str] = set()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None
        self.requests: list[tuple[str, str]] = []
        self.internal_errors: list[str] = []

    def start(self) -> "UpstoxLocalServer":
        self._httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
        self._httpd.app = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="upstox-local-server", daemon=True)
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
            self._httpd.server_close()
            self._thread.join()
            self._httpd = None
        self.exchange.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- test controls

    def on_ticks(self, rows) -> None:
        self.exchange.on_ticks(rows)

    def fail_next(self, mode: str, n: int = 1, *, delay_s: float = 5.0, route: str | None = None):
        if mode not in CANNED and mode not in WAIT_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; one of {sorted(CANNED) + list(WAIT_MODES)}")
        with self._lock:
            self._failures.append(_Failure(mode, int(n), float(delay_s), route))

    def issue_auth_code(self) -> str:
        """A fresh single-use authorization code, as Upstox's login redirect would hand one out."""
        code = _random.token_hex(8)
        with self._lock:
            self._auth_codes.add(code)
        return code

    def count(self, method: str, path_prefix: str) -> int:
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
                raise UpstoxError(*CANNED[mode])
            status, payload = 200, self._dispatch(method, path, url.query, body, handler.headers)
        except UpstoxError as e:
            status, payload = e.http_status, _error(e)
        except Exception:  # noqa: BLE001 - a server bug answers 500 and is kept for the test to see
            self.internal_errors.append(traceback.format_exc())
            status, payload = 500, _error(UpstoxError(500, "UDAPI100500", "local server error"))
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

    def _dispatch(self, method: str, path: str, query: str, body: bytes, headers) -> bytes:
        name = _ROUTES.get((method, path))
        if name is None:
            raise UpstoxError(404, "UDAPI100060", f"Resource not Found: {method} {path}")
        if name == "token":
            return orjson.dumps({"status": "success", **self._token(_form(body.decode()))})
        if headers.get("Authorization") != f"Bearer {self._access_token}":
            raise UpstoxError(401, "UDAPI100050", "Invalid token used to access API")
        ex = self.exchange
        if name in ("place", "modify", "cancel"):
            args = _form(query)["order_id"] if name == "cancel" else _json(body)
            data = getattr(ex, name)(args)
            return orjson.dumps({"status": "success", "data": data, "metadata": {"latency": 1}})
        return orjson.dumps({"status": "success", "data": getattr(ex, name)()})

    def _token(self, form: dict) -> dict:
        """The auth-code exchange; Upstox answers it flat (no data envelope)."""
        code = form.get("code", "")
        if form.get("grant_type") != "authorization_code" or not code:
            raise UpstoxError(400, "UDAPI100038", "Invalid input: grant_type or code")
        with self._lock:
            if form.get("client_id") != self._api_key or form.get("client_secret") != self._api_secret:
                raise UpstoxError(401, "UDAPI100016", "Invalid Credentials")
            if code not in self._auth_codes:
                raise UpstoxError(400, "UDAPI100057", "Invalid Auth code")
            self._auth_codes.discard(code)
        token = {"email": "local@example.invalid", "user_id": "LOCAL1", "user_name": "Local",
                 "user_type": "individual", "broker": "UPSTOX", "exchanges": ["NSE", "NFO", "BSE"],
                 "products": ["D", "I"], "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                 "is_active": True, "access_token": self._access_token}
        return token


def _form(text: str) -> dict:
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _json(body: bytes) -> dict:
    try:
        doc = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise UpstoxError(400, "UDAPI100038", "Invalid input: body is not JSON") from None
    if not isinstance(doc, dict):
        raise UpstoxError(400, "UDAPI100038", "Invalid input: body is not an object")
    return doc


def _error(e: UpstoxError) -> bytes:
    return orjson.dumps({"status": "error", "errors": [
        {"errorCode": e.code, "message": e.message, "propertyPath": None, "invalidValue": None,
         "error_code": e.code, "property_path": None, "invalid_value": None}]})


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = False      # server_close() joins them
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        """A client that gave up (timeout tests) is normal here; nothing to print."""


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10

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
        handler.close_connection = True
