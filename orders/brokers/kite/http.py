"""A thin client over the official SDK (`kiteconnect.KiteConnect`), one method per Kite endpoint.

It adds exactly two things to the SDK: every failure leaves as an OTrade broker error
(orders/brokers/kite/errors.py), and nothing is retried (the SDK and requests' default adapter do
not retry either, so one call is at most one request on the wire). `root` points the SDK at a local
server; the SDK joins routes with urljoin, so only scheme://host:port of `root` matters. The SDK's
`debug` logging prints the Authorization header, so it stays off.

The book reads (orders, order history, trades) go through the SDK's own `_get(route)` instead of its
public `orders()` / `trades()`: those add only `_format_response`, which runs dateutil over every
timestamp and made a 300-order book read ~12x slower (97 ms against 8 ms, measured on loopback).
Same request, same headers, same error mapping; parse.py reads the IST strings itself.

Every request runs inside `blocked(call_bound_s)` (orders/brokers/live.py `bound_calls`): the stage
says it waits for the broker, for at most the connect and the read timeout, so that the stop ladder
does not take a slow answer to a stop's cancel for a hang.

Replies that carry an id OTrade keeps (a placement's order_id, a GTT's trigger_id) are decoded into
typed structs (`KiteOrderReply`, `KiteTriggerReply`): a reply without a usable id is a
BrokerRetryable that says so (for a placement: outcome unknown, the engine looks the tag up), never
a TypeError from inside. The placement goes through the SDK's `_post` for that reason (its
`place_order` indexes the reply itself), with the same None-free parameters.
"""

from contextlib import nullcontext

import msgspec
from kiteconnect import KiteConnect

from common.errors import BrokerRetryable
from orders.brokers.kite.errors import classify
from orders.brokers.replies import BadRow, decode


class KiteOrderReply(msgspec.Struct):
    order_id: str | int


class KiteTriggerReply(msgspec.Struct):
    trigger_id: int

GTT_OCO = KiteConnect.GTT_TYPE_OCO       # "two-leg"


class KiteHttp:
    """Parameters
    ----------
    credentials : KiteCredentials (access_token None before login).
    root : REST root, None for Kite's own.
    timeout_s : per request.
    extra_secrets : more values to scrub from messages (the api secret during login).
    """

    def __init__(self, credentials, root: str | None = None, timeout_s: float = 7.0,
                 extra_secrets: tuple[str, ...] = ()):
        self._kite = KiteConnect(credentials.api_key, access_token=credentials.access_token,
                                 root=root, timeout=timeout_s)
        self._secrets = credentials.secret_values() + tuple(extra_secrets)
        self.requests_sent = 0
        self.call_bound_s = 2 * timeout_s    # the longest a request may take: connect, then read
        self.blocked = nullcontext           # (bound_s) -> context around each request

    def _call(self, endpoint: str, fn, *args, **kwargs):
        self.requests_sent += 1
        try:
            with self.blocked(self.call_bound_s):
                return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - every failure is classified, none escapes raw
            raise classify(e, endpoint, self._secrets) from None

    # ---------------------------------------------------------------- orders
    def place_order(self, variety: str, **params) -> str:
        """POST /orders/{variety} → order_id. A 200 means accepted, not filled."""
        params = {k: v for k, v in params.items() if v is not None}
        data = self._call(
            "place_order",
            self._kite._post,
            "order.place",
            url_args={"variety": variety},
            params=params,
        )
        order_id = str(_reply(data, KiteOrderReply, "place_order", "; outcome unknown").order_id)
        if not order_id:
            raise BrokerRetryable(
                "kite place_order: the reply has an empty order_id; outcome unknown",
                code="BadResponse",
            )
        return order_id

    def modify_order(self, variety: str, order_id: str, **params) -> str:
        """PUT /orders/{variety}/{order_id}."""
        return str(self._call("modify_order", self._kite.modify_order, variety, order_id, **params))

    def cancel_order(self, variety: str, order_id: str) -> str:
        """DELETE /orders/{variety}/{order_id}."""
        return str(self._call("cancel_order", self._kite.cancel_order, variety, order_id))

    def orders(self) -> list[dict]:
        """GET /orders: the day's order book, oldest first."""
        return self._call("orders", self._kite._get, "orders")

    def order_history(self, order_id: str) -> list[dict]:
        """GET /orders/{order_id}: the order's state transitions, latest last."""
        return self._call("order_history", self._kite._get, "order.info",
                          url_args={"order_id": order_id})

    def trades(self) -> list[dict]:
        """GET /trades: the day's executions."""
        return self._call("trades", self._kite._get, "trades")

    def positions(self) -> dict:
        """GET /portfolio/positions → {"net": [...], "day": [...]}."""
        return self._call("positions", self._kite.positions)

    # ---------------------------------------------------------------- GTT
    def place_gtt_oco(self, exchange: str, tradingsymbol: str, trigger_values: list[float],
                      last_price: float, orders: list[dict]) -> int:
        """POST /gtt/triggers, type two-leg: orders[0] fires at trigger_values[0] (the lower),
        orders[1] at trigger_values[1]. Returns the trigger id."""
        data = self._call("place_gtt", self._kite.place_gtt, GTT_OCO, tradingsymbol, exchange,
                          list(trigger_values), last_price, orders)
        return _reply(data, KiteTriggerReply, "place_gtt", "; outcome unknown").trigger_id

    def delete_gtt(self, trigger_id: int) -> int:
        """DELETE /gtt/triggers/{trigger_id}."""
        data = self._call("delete_gtt", self._kite.delete_gtt, trigger_id)
        return _reply(data, KiteTriggerReply, "delete_gtt").trigger_id

    def get_gtts(self) -> list[dict]:
        """GET /gtt/triggers."""
        return self._call("get_gtts", self._kite.get_gtts)

    # ---------------------------------------------------------------- session
    def profile(self) -> dict:
        """GET /user/profile: the session's user (python -m orders.brokers.kite.check)."""
        return self._call("profile", self._kite.profile)

    def login_url(self) -> str:
        return self._kite.login_url()

    def generate_session(self, request_token: str, api_secret: str) -> dict:
        """POST /session/token with checksum sha256(api_key + request_token + api_secret)."""
        self._secrets += (request_token, api_secret)
        return self._call(
            "generate_session", self._kite.generate_session, request_token, api_secret
        )

    def close(self) -> None:
        """Close the pooled keep-alive connections. Safe to call twice."""
        self._kite.reqsession.close()


def gtt_leg(transaction_type: str, qty: int, price: float, product: str) -> dict:
    """One order of a GTT, as the SDK's place_gtt wants it (LIMIT at `price`)."""
    return {"transaction_type": transaction_type, "quantity": int(qty), "order_type": "LIMIT",
            "product": product, "price": float(price)}


def _reply(data, struct_type, endpoint: str, consequence: str = ""):
    """A success reply decoded as `struct_type`; BrokerRetryable naming what was wrong otherwise."""
    try:
        return decode(data, struct_type)
    except BadRow as e:
        raise BrokerRetryable(f"kite {endpoint}: malformed reply ({e}){consequence}",
                              code="BadResponse") from None
