"""UpstoxLocalServer: a threaded HTTP server on 127.0.0.1 speaking the Upstox REST subset OTrade
uses.

Routes: POST /v3/order/place, PUT /v3/order/modify, DELETE /v3/order/cancel?order_id=,
GET /v2/order/retrieve-all, /v2/order/trades/get-trades-for-day, /v2/portfolio/short-term-positions,
GET /v3/historical-candle/{instrument_key}/{unit}/{interval}/{to_date}/{from_date} (history.py),
and POST /v2/login/authorization/token (form: code, client_id, client_secret, redirect_uri,
grant_type=authorization_code; codes come from `issue_auth_code()` and are single-use). Every route
but the token exchange needs `Authorization: Bearer <access token>`, else 401 UDAPI100050. Answers
are Upstox's envelopes: `{"status": "success", "data": ...}` (v3 order calls add `metadata.latency`)
and `{"status": "error", "errors": [{"errorCode", "message", ...}]}` with the HTTP status. Point
BOTH Configuration.host and .order_host at `url`.

Matching is the paper fill model (exchange.py); the server makes no prices: feed it ticks with
`on_ticks(rows)`. Failure switches, `fail_next(mode, n, delay_s=, route=)`: "429" / "500" / "token"
/ "input" answer the next n matching requests with that error; "delay", "accept_timeout" (the
in-doubt placement) and "drop" are the wait modes of every local server (localvenue/http.py, which
also runs the HTTP server, its threads and the request log).
"""

import orjson

from localvenue.http import LocalRestServer, decode_form
from localvenue.upstox.exchange import LocalUpstoxExchange, UpstoxError
from localvenue.upstox.history import PREFIX as HISTORY_PREFIX, UpstoxHistoryRoute
from orders.brokers.upstox.credentials import LOCAL_ACCESS_TOKEN, LOCAL_API_KEY, LOCAL_API_SECRET

CANNED = {
    "429": (429, "UDAPI10005", "Too Many Request Sent"),
    "500": (500, "UDAPI100500", "Something went wrong, please try again later"),
    "token": (401, "UDAPI100050", "Invalid token used to access API"),
    "input": (400, "UDAPI100038", "Invalid input"),
    # An order from an IP not registered (SEBI retail-algo rules). Upstox publishes no code or text
    # for it: both are assumed here, and OTrade recognises it by its words
    # (orders/brokers/staticip.py).
    "static_ip": (403, "UDAPI_STATIC_IP", "Order request from IP 203.0.113.7 is not allowed: "
                  "the IP is not registered as a static IP for this account"),
}
_ROUTES = {
    ("POST", "/v3/order/place"): "place", ("PUT", "/v3/order/modify"): "modify",
    ("DELETE", "/v3/order/cancel"): "cancel", ("GET", "/v2/order/retrieve-all"): "orders",
    ("GET", "/v2/order/trades/get-trades-for-day"): "trades",
    ("GET", "/v2/portfolio/short-term-positions"): "positions",
    ("POST", "/v2/login/authorization/token"): "token",
    ("GET", "/v2/user/profile"): "profile", ("GET", "/v2/user/ip"): "static_ips",
}
_PROFILE = {
    "email": "local@example.invalid",
    "exchanges": ["NSE", "NFO", "BSE"],
    "products": ["D", "I"],
    "broker": "UPSTOX",
    "user_id": "LOCAL1",
    "user_name": "Local",
    "user_type": "individual",
    "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
    "poa": False,
    "is_active": True,
}
# GET /v2/user/ip: the registered static IPs
# (upstox.com/developer/api-documentation/get-app-static-ips)
_STATIC_IPS = {"user_id": "LOCAL1", "primary_ip": "203.0.113.10", "secondary_ip": None,
               "primary_ip_updated_at": "2026-04-01 09:00:00", "secondary_ip_updated_at": None}


class UpstoxLocalServer(LocalRestServer):
    """Parameters
    ----------
    port : 0 picks a free port (see `url` after start()).
    instruments : INSTRUMENT_DTYPE rows or an InstrumentTable (broker_key = instrument_key).
    paper_journal : journal of the wrapped PaperBroker (durable; reopened if it exists).
    api_key, api_secret, access_token : the credentials this server accepts and hands out.
    max_fill_qty_per_tick, slippage_ticks : the paper fill model's knobs.
    """

    CANNED = CANNED
    error_type = UpstoxError
    internal_error = (500, "UDAPI100500", "local server error")
    thread_name = "upstox-local-server"

    def __init__(self, port: int = 0, *, instruments, paper_journal: str,
                 api_key: str = LOCAL_API_KEY, api_secret: str = LOCAL_API_SECRET,
                 access_token: str = LOCAL_ACCESS_TOKEN, max_fill_qty_per_tick: int = 0,
                 slippage_ticks: int = 0):
        super().__init__(
            port,
            LocalUpstoxExchange(
                instruments,
                paper_journal,
                slippage_ticks=slippage_ticks,
                max_fill_qty_per_tick=max_fill_qty_per_tick,
            ),
        )
        self._api_key, self._api_secret, self._access_token = api_key, api_secret, access_token
        self.history = UpstoxHistoryRoute()   # GET /v3/historical-candle (history.py)
        # The X-Algo-Name header of each order call, in order ("" when absent): Upstox requires it
        # of algo apps; what it answers without one it does not publish, so nothing is refused here.
        self.algo_names: list[str] = []

    def issue_auth_code(self) -> str:
        """A fresh single-use authorization code, as Upstox's login redirect would hand one out."""
        return self._issue_login_code(8)

    # ---------------------------------------------------------------- serving

    def _answer(self, method: str, path: str, query: str, body: bytes, headers) -> bytes:
        name = (
            "history"
            if method == "GET" and path.startswith(HISTORY_PREFIX)
            else _ROUTES.get((method, path))
        )
        if name is None:
            raise UpstoxError(404, "UDAPI100060", f"Resource not Found: {method} {path}")
        if name == "token":
            return orjson.dumps({"status": "success", **self._token(decode_form(body))})
        if headers.get("Authorization") != f"Bearer {self._access_token}":
            raise UpstoxError(401, "UDAPI100050", "Invalid token used to access API")
        ex = self.exchange
        if name == "history":
            return orjson.dumps({"status": "success", "data": self.history.answer(path)})
        if name in ("profile", "static_ips"):
            return orjson.dumps(
                {"status": "success", "data": _PROFILE if name == "profile" else _STATIC_IPS}
            )
        if name in ("place", "modify", "cancel"):
            self.algo_names.append(headers.get("X-Algo-Name") or "")
            args = decode_form(query)["order_id"] if name == "cancel" else _json(body)
            data = getattr(ex, name)(args)
            return orjson.dumps({"status": "success", "data": data, "metadata": {"latency": 1}})
        return orjson.dumps({"status": "success", "data": getattr(ex, name)()})

    def _token(self, form: dict) -> dict:
        """The auth-code exchange; Upstox answers it flat (no data envelope)."""
        code = form.get("code", "")
        if form.get("grant_type") != "authorization_code" or not code:
            raise UpstoxError(400, "UDAPI100038", "Invalid input: grant_type or code")
        with self._lock:
            if (
                form.get("client_id") != self._api_key
                or form.get("client_secret") != self._api_secret
            ):
                raise UpstoxError(401, "UDAPI100016", "Invalid Credentials")
            if code not in self._login_codes:
                raise UpstoxError(400, "UDAPI100057", "Invalid Auth code")
            self._login_codes.discard(code)
        token = {"email": "local@example.invalid", "user_id": "LOCAL1", "user_name": "Local",
                 "user_type": "individual", "broker": "UPSTOX", "exchanges": ["NSE", "NFO", "BSE"],
                 "products": ["D", "I"], "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                 "is_active": True, "access_token": self._access_token}
        return token

    def _error_body(self, e: UpstoxError) -> bytes:
        return orjson.dumps({"status": "error", "errors": [
            {"errorCode": e.code, "message": e.message, "propertyPath": None, "invalidValue": None,
             "error_code": e.code, "property_path": None, "invalid_value": None}]})


def _json(body: bytes) -> dict:
    try:
        doc = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise UpstoxError(400, "UDAPI100038", "Invalid input: body is not JSON") from None
    if not isinstance(doc, dict):
        raise UpstoxError(400, "UDAPI100038", "Invalid input: body is not an object")
    return doc
