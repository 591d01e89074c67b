"""KiteLocalServer: a threaded HTTP server on 127.0.0.1 that speaks the Kite REST subset OTrade
uses.

Routes (served at `/`, because the SDK urljoins them onto its root): POST /orders/{variety},
PUT|DELETE /orders/{variety}/{order_id}, GET /orders, /orders/{order_id}, /orders/{order_id}/trades,
/trades, /portfolio/positions, GET|POST /gtt/triggers, GET|DELETE /gtt/triggers/{id},
GET /instruments/historical/{instrument_token}/{interval} (candles: history.py), and
POST /session/token (the request-token exchange, checksum sha256(api_key + request_token +
api_secret); request tokens come from `issue_request_token()` and are single-use). Every other
route needs `X-Kite-Version: 3` and `Authorization: token <api_key>:<access_token>`, else a 400
InputException / 403 TokenException, exactly the envelopes the SDK maps to its exceptions.

Matching is the paper broker's fill model (exchange.py wraps a durable PaperBroker); the server
makes no prices: feed it ticks with `on_ticks(rows)`. Failure switches for tests, `fail_next(mode,
n, delay_s=, route=)`: "429" / "500" / "502" / "503" / "token" / "permission" / "margin" / "order"
answer the next n matching requests with that error (protocol.CANNED); "delay", "accept_timeout"
(the in-doubt placement) and "drop" are the wait modes of every local server (localvenue/http.py,
which also runs the HTTP server, its threads and the request log).
"""

import hashlib

from localvenue.http import LocalRestServer, decode_form
from localvenue.kite.exchange import LocalExchange
from localvenue.kite.history import KiteHistoryRoute
from localvenue.kite.protocol import CANNED, KiteError, error_body, success_body
from localvenue.kite.routes import route
from orders.brokers.kite.credentials import LOCAL_ACCESS_TOKEN, LOCAL_API_KEY

LOCAL_API_SECRET = "local-secret"


class KiteLocalServer(LocalRestServer):
    """Parameters
    ----------
    port : 0 picks a free port (see `url` after start()).
    instruments : INSTRUMENT_DTYPE rows or an InstrumentTable.
    paper_journal : journal file of the wrapped PaperBroker (durable; reopened if it exists).
    api_key, access_token, api_secret : the credentials this server accepts.
    max_fill_qty_per_tick, slippage_ticks : the paper fill model's knobs (partial fills, slippage).
    """

    CANNED = CANNED
    error_type = KiteError
    internal_error = (500, "GeneralException", "local server error")
    thread_name = "kite-local-server"

    def __init__(
        self,
        port: int = 0,
        *,
        instruments,
        paper_journal: str,
        api_key: str = LOCAL_API_KEY,
        access_token: str = LOCAL_ACCESS_TOKEN,
        api_secret: str = LOCAL_API_SECRET,
        max_fill_qty_per_tick: int = 0,
        slippage_ticks: int = 0,
    ):
        super().__init__(port, LocalExchange(instruments, paper_journal,
                                             max_fill_qty_per_tick=max_fill_qty_per_tick,
                                             slippage_ticks=slippage_ticks))
        self._api_key, self._access_token, self._api_secret = api_key, access_token, api_secret
        self._auth = f"token {api_key}:{access_token}"
        self.history = KiteHistoryRoute()     # GET /instruments/historical (history.py)

    def issue_request_token(self) -> str:
        """A fresh single-use request token, as Kite's login redirect would hand one out."""
        return self._issue_login_code(16)

    # ---------------------------------------------------------------- serving

    def _answer(self, method: str, path: str, query: str, body: bytes, headers) -> bytes:
        form = decode_form(body if method in ("POST", "PUT") else query)
        return success_body(self._dispatch(method, path, form, headers))

    def _error_body(self, error: KiteError) -> bytes:
        return error_body(error)

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
            "orders": ex.orders,
            "trades": lambda: ex.trades(),
            "order_history": lambda: ex.order_history(args["order_id"]),
            "order_trades": lambda: ex.trades(args["order_id"]),
            "positions": ex.positions,
            "gtts": ex.gtts,
            "place_gtt": lambda: ex.place_gtt(form),
            "gtt": lambda: ex.get_gtt(int(args["trigger_id"])),
            "delete_gtt": lambda: ex.delete_gtt(int(args["trigger_id"])),
            "historical": lambda: self.history.answer(args, form),
            "profile": lambda: {
                "user_id": "LOCAL1",
                "user_type": "individual",
                "user_name": "Local",
                "user_shortname": "Local",
                "email": "local@example.invalid",
                "broker": "ZERODHA",
                "exchanges": ["NSE", "NFO", "BSE"],
                "products": ["CNC", "NRML", "MIS"],
                "avatar_url": None,
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "meta": {},
            },
        }
        return handlers[name]()

    def _session(self, form: dict) -> dict:
        """POST /session/token: exchange a request token for the access token."""
        api_key, request_token = form.get("api_key", ""), form.get("request_token", "")
        if not api_key or not request_token or not form.get("checksum"):
            raise KiteError(
                400, "InputException", "Missing `api_key`, `request_token` or `checksum`."
            )
        expected = hashlib.sha256((api_key + request_token + self._api_secret).encode()).hexdigest()
        with self._lock:
            if api_key != self._api_key or request_token not in self._login_codes:
                raise KiteError(403, "TokenException", "Token is invalid or has expired.")
            if form["checksum"] != expected:
                raise KiteError(403, "TokenException", "Invalid `checksum`.")
            self._login_codes.discard(request_token)
        return {
            "user_type": "individual",
            "email": "local@example.invalid",
            "user_name": "Local",
            "user_shortname": "Local",
            "broker": "ZERODHA",
            "exchanges": ["NSE", "NFO", "BSE"],
            "products": ["CNC", "NRML", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "user_id": "LOCAL1",
            "api_key": api_key,
            "access_token": self._access_token,
            "public_token": "local-public",
            "refresh_token": "",
            "silo": "",
            "login_time": self.exchange.now_ist(),
            "meta": {"demat_consent": "physical"},
        }
