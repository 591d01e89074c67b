"""A thin client over the official SDK (upstox_client), one method per Upstox endpoint.

What it adds to the SDK, and why:
- `_request_timeout=(timeout_s, timeout_s)` on EVERY call: the SDK's default is no timeout, and it
  only honours an int or a (connect, read) pair (a float is silently ignored, i.e. infinite).
- urllib3 retries off, so one call is at most one request on the wire (urllib3's default would
  re-send after a connection error, and a placement must never be sent twice by us).
- responses are read raw (`_preload_content=False`) and parsed with orjson: the SDK's model
  deserialisation is slow and chokes on fields it does not know; we only need `data`.
- every failure leaves as an OTrade broker error (errors.py), with no secret in its message.
- every request runs inside `blocked(call_bound_s)` (orders/brokers/live.py `bound_calls`): the
  stage says it waits for the broker, for at most the connect and the read timeout, so that the
  stop ladder does not take a slow answer to a stop's cancel for a hang.
- replies are checked for shape: the book reads return `data` as sent (the adapter refuses anything
  but a list, orders/brokers/replies.py: a null is not an empty book, which at recovery would read
  as "never received" and send an order again), and the order calls decode `data` into typed structs
  (`PlaceReply`, `OrderIdReply`): no usable id is a BrokerRetryable (outcome unknown), never an
  AttributeError.
The SDK sends /order/place|modify|cancel to `Configuration.order_host` and everything else to
`Configuration.host`, which is how both are pointed at one local server.
"""

from contextlib import nullcontext
from typing import Any

import msgspec
import orjson
import upstox_client
from upstox_client.models.modify_order_request import ModifyOrderRequest
from upstox_client.models.place_order_v3_request import PlaceOrderV3Request

from common.errors import BrokerRejected, BrokerRetryable
from orders.brokers.replies import BadRow, decode
from orders.brokers.upstox.errors import classify, from_response

API_VERSION = "2.0"


class PlaceReply(msgspec.Struct):
    order_ids: list[str | int]


class OrderIdReply(msgspec.Struct):
    order_id: str | int | None = None


class UpstoxHttp:
    """Parameters
    ----------
    credentials : UpstoxCredentials (access_token None before login).
    host, order_host : REST roots, None for Upstox's own.
    timeout_s : connect and read timeout per request.
    algo_name : the app's Algo Name, sent as X-Algo-Name on the order calls ("" none).
    """

    def __init__(self, credentials, host: str | None = None, order_host: str | None = None,
                 timeout_s: float = 5.0, algo_name: str = ""):
        conf = upstox_client.Configuration()
        if host:
            conf.host = host.rstrip("/")
        if order_host:
            conf.order_host = order_host.rstrip("/")
        conf.access_token = credentials.access_token or ""
        self._client = upstox_client.ApiClient(conf)
        self._client.rest_client.pool_manager.connection_pool_kw["retries"] = False
        self._orders_v3 = upstox_client.OrderApiV3(self._client)
        self._orders = upstox_client.OrderApi(self._client)
        self._portfolio = upstox_client.PortfolioApi(self._client)
        self._login = upstox_client.LoginApi(self._client)
        self._timeout = (float(timeout_s), float(timeout_s))
        self._secrets = credentials.secret_values()
        self.requests_sent = 0
        self.call_bound_s = sum(self._timeout)   # the longest a request may take (retries are off)
        self.blocked = nullcontext               # (bound_s) -> context around each request
        self.last_latency_ms = None      # metadata.latency of the last v3 order call, when sent
        # the SDK's own parameter for the X-Algo-Name header of its v3 order calls
        self._algo: dict[str, Any] = {"algo_name": algo_name} if algo_name else {}

    def _call(self, endpoint: str, fn, *args, whole: bool = False, **kwargs):
        """`data` of the success envelope (the whole document when `whole`); raises the classified
        error otherwise."""
        self.requests_sent += 1
        try:
            with self.blocked(self.call_bound_s):
                response = fn(*args, _preload_content=False, _request_timeout=self._timeout,
                              **kwargs)
                raw = response.data
                response.release_conn()
        except Exception as e:  # noqa: BLE001 - every failure is classified, none escapes raw
            raise classify(e, endpoint, self._secrets) from None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BrokerRetryable(f"upstox {endpoint}: answer is not JSON; outcome unknown",
                                  code="BadResponse") from None
        if not isinstance(doc, dict) or doc.get("status") == "error":
            raise from_response(int(response.status), doc, endpoint, self._secrets)
        latency = (doc.get("metadata") or {}).get("latency")
        if latency is not None:
            self.last_latency_ms = latency
        return doc if whole else doc.get("data")

    # ---------------------------------------------------------------- orders (order_host)

    def place_order(self, **fields) -> str:
        """POST /v3/order/place → the order id. A 200 means accepted by Upstox, not by the
        exchange."""
        body = _model(PlaceOrderV3Request, "place_order", fields)
        data = self._call("place_order", self._orders_v3.place_order, body, **self._algo)
        ids = _reply(data, PlaceReply, "place_order").order_ids
        if not ids or not str(ids[0]):
            raise BrokerRetryable(
                "upstox place_order: success without an order id; outcome unknown",
                code="BadResponse",
            )
        return str(ids[0])

    def modify_order(self, **fields) -> str:
        """PUT /v3/order/modify (absolute values: quantity, price, trigger_price, order_type,
        validity)."""
        body = _model(ModifyOrderRequest, "modify_order", fields)
        data = self._call("modify_order", self._orders_v3.modify_order, body, **self._algo)
        return str(_reply(data, OrderIdReply, "modify_order").order_id or fields.get("order_id"))

    def cancel_order(self, order_id: str) -> str:
        """DELETE /v3/order/cancel?order_id=."""
        data = self._call("cancel_order", self._orders_v3.cancel_order, order_id, **self._algo)
        return str(_reply(data, OrderIdReply, "cancel_order").order_id or order_id)

    # ---------------------------------------------------------------- books (host)

    def orders(self) -> list[dict]:
        """GET /v2/order/retrieve-all: the day's order book."""
        return self._call("orders", self._orders.get_order_book, API_VERSION)

    def trades(self) -> list[dict]:
        """GET /v2/order/trades/get-trades-for-day."""
        return self._call("trades", self._orders.get_trade_history, API_VERSION)

    def positions(self) -> list[dict]:
        """GET /v2/portfolio/short-term-positions."""
        return self._call("positions", self._portfolio.get_positions, API_VERSION)

    # ---------------------------------------------------------------- session

    def profile(self) -> dict:
        """GET /v2/user/profile: the session's user (python -m orders.brokers.upstox.check)."""
        return self._call("profile", upstox_client.UserApi(self._client).get_profile, API_VERSION)

    def static_ips(self) -> dict:
        """GET /v2/user/ip: the static IPs registered for API orders (primary_ip, secondary_ip)."""
        return self._call("static_ips", upstox_client.UserApi(self._client).get_user_ips)

    def token(self, code: str, api_key: str, api_secret: str, redirect_uri: str) -> dict:
        """POST /v2/login/authorization/token: exchange a single-use auth code for the access
        token."""
        self._secrets += tuple(v for v in (code, api_secret) if v)
        # Upstox answers this one flat (access_token at the top), not inside "data".
        doc = self._call("token", self._login.token, API_VERSION, whole=True, code=code,
                         client_id=api_key, client_secret=api_secret, redirect_uri=redirect_uri,
                         grant_type="authorization_code")
        return doc.get("data") if isinstance(doc.get("data"), dict) else doc

    def close(self) -> None:
        """Close pooled connections and the SDK's worker pool. Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            client.rest_client.pool_manager.clear()
            client.pool.close()
            client.pool.join()


def _model(cls, endpoint: str, fields: dict):
    """An SDK request model; its own validation (allowed values, required fields) is a refusal."""
    try:
        return cls(**fields)
    except ValueError as e:
        raise BrokerRejected(f"upstox {endpoint}: {e}", code="InvalidRequest") from None


def _reply(data, struct_type, endpoint: str):
    """`data` of an order call decoded as `struct_type`; BrokerRetryable (outcome unknown)
    otherwise."""
    try:
        return decode(data, struct_type)
    except BadRow as e:
        raise BrokerRetryable(f"upstox {endpoint}: malformed reply ({e}); outcome unknown",
                              code="BadResponse") from None
