"""UpstoxBroker: the Broker interface (orders/brokers/base.py) over Upstox's REST API (SDK v3 orders).

- place: POST /v3/order/place with tag = client_order_id, product I (intraday; CNC/NRML → D),
  validity DAY, slice off, and `market_protection` on MARKET and SL-M orders. A 200 means Upstox took
  the request, not that the exchange did: a later RMS rejection arrives as a REJECTED BrokerOrder
  from poll_events. A timeout, network error, 429 or 5xx raises BrokerRetryable: OUTCOME UNKNOWN,
  the engine looks the tag up (find_by_client_id) first. Nothing is retried here.
- Refused before sending (BrokerRejected, nothing on the wire, no place in the rate limit): a bad
  client id, side, type or quantity, an instrument without an instrument_key, a quantity above the
  freeze quantity or off the lot size, a price off the tick size. The engine slices; Upstox's own
  `slice` is off because its children could not be told apart by our tag after a crash.
- modify: Upstox wants the whole order (type, validity, price, trigger) with the new values, so the
  order's last known state fills the gaps (read from the book when unknown).
- cancel returns CANCEL_PENDING: the exchange confirms later, through poll_events.
- poll_events reads the order book at most every `poll_interval_ms` and the trade book only when a
  filled quantity grew, and returns new BrokerTrades (each trade id once per process) then the
  BrokerOrders whose state changed; only ours (non-empty tag). A failed poll is counted and skipped;
  BrokerFatal (the token) propagates.
- Every request passes the client-side throttle (throttle.py): order APIs 10/s, 500/min, 2000/30 min.
"""

import time

from common.errors import BrokerRejected, BrokerRetryable
from orders import statemachine as sm
from orders.brokers.base import (CAP_PARTIAL_FILLS, ORDER_TYPES, Broker, BrokerAck, BrokerOrder,
                                 BrokerTrade, OrderRequest)
from orders.brokers.upstox import parse
from orders.brokers.upstox.config import PRODUCT_OF, UpstoxSettings
from orders.brokers.upstox.credentials import session_credentials
from orders.brokers.upstox.http import UpstoxHttp
from orders.brokers.upstox.throttle import UpstoxThrottle

MARKET_PROTECTED = ("MARKET", "SL-M")
TAG_MAX_LEN = 20
NS_PER_MS = 1_000_000


class UpstoxBroker(Broker):
    """Parameters
    ----------
    instruments : INSTRUMENT_DTYPE rows or an InstrumentTable (its .rows); broker_key holds the
        Upstox instrument_key.
    settings : UpstoxSettings.
    credentials : UpstoxCredentials.
    clock : wall-clock ns, for the throttle and the poll interval.
    """

    def __init__(self, instruments, settings: UpstoxSettings, credentials, *, clock=time.time_ns):
        self._rows = getattr(instruments, "rows", instruments)
        self._index_of_key = {r["broker_key"].decode(): i for i, r in enumerate(self._rows)
                              if r["broker_key"]}
        self._settings = settings
        self._clock = clock
        self._http = UpstoxHttp(credentials, settings.host, settings.order_host, settings.timeout_s)
        self._throttle = UpstoxThrottle(settings, clock)
        self.capabilities = frozenset({CAP_PARTIAL_FILLS})
        self._client_ids: dict[str, str] = {}       # broker order id -> our client order id
        self._known: dict[str, BrokerOrder] = {}     # last order-book state, by order id
        self._reported: dict[str, BrokerOrder] = {}  # last state poll_events returned
        self._traded_qty: dict[str, int] = {}
        self._trade_ids: set[str] = set()
        self._next_poll_ns = 0
        self.poll_failures = 0
        self.last_poll_error = ""

    @classmethod
    def from_config(cls, config, secrets, instruments, **overrides) -> "UpstoxBroker":
        """From the validated Config and Secrets; `overrides` replace UpstoxSettings fields."""
        settings = UpstoxSettings.from_config(config.broker.upstox, **overrides)
        return cls(instruments, settings, session_credentials(secrets, settings.local_server))

    @property
    def requests_sent(self) -> int:
        return self._http.requests_sent

    # ---------------------------------------------------------------- order entry

    def place(self, req: OrderRequest) -> BrokerAck:
        fields = self._placement_fields(req)
        self._throttle.take_order("place_order")
        order_id = self._http.place_order(**fields)
        self._client_ids[order_id] = req.client_order_id
        return BrokerAck(order_id, req.client_order_id, sm.ACCEPTED)

    def modify(self, broker_order_id: str, qty: int | None = None, price: float | None = None,
               trigger_price: float | None = None) -> BrokerAck:
        current = self._known.get(broker_order_id) or self._lookup(broker_order_id)
        fields = {"order_id": broker_order_id, "order_type": current.order_type, "validity": "DAY",
                  "quantity": int(qty if qty is not None else current.qty),
                  "price": float(price if price is not None else current.price),
                  "trigger_price": float(trigger_price if trigger_price is not None
                                         else current.trigger_price),
                  "disclosed_quantity": 0}
        if current.order_type in MARKET_PROTECTED and self._settings.market_protection is not None:
            fields["market_protection"] = self._settings.market_protection
        self._throttle.take_order("modify_order")
        self._http.modify_order(**fields)
        status = current.status if current.status in sm.WORKING else sm.ACCEPTED
        return BrokerAck(broker_order_id, self._client_ids.get(broker_order_id, ""), status)

    def cancel(self, broker_order_id: str) -> BrokerAck:
        self._throttle.take_order("cancel_order")
        self._http.cancel_order(broker_order_id)
        return BrokerAck(broker_order_id, self._client_ids.get(broker_order_id, ""),
                         sm.CANCEL_PENDING)

    # ---------------------------------------------------------------- lookups

    def find_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The first order in today's book tagged `client_order_id`, or None: the in-doubt lookup."""
        return next((o for o in self.orders() if o.client_order_id == client_order_id), None)

    def orders(self) -> list[BrokerOrder]:
        self._throttle.take_api("orders")
        return self._remember(self._http.orders())

    def trades(self) -> list[BrokerTrade]:
        self._throttle.take_api("trades")
        rows = self._http.trades()
        if any(str(r.get("order_id")) not in self._client_ids for r in rows):
            self.orders()   # trades carry no tag: the order book says whose they are
        trades = (parse.trade_from_row(r, self._index_of_key, self._client_ids) for r in rows)
        return [t for t in trades if t is not None]

    def positions(self):
        self._throttle.take_api("positions")
        return parse.positions_from_rows(self._http.positions(), self._index_of_key)

    # ---------------------------------------------------------------- events

    def poll_events(self) -> list:
        now = self._clock()
        if now < self._next_poll_ns or not self._throttle.api_room():
            return []
        self._next_poll_ns = now + self._settings.poll_interval_ms * NS_PER_MS
        try:
            return self._poll()
        except (BrokerRetryable, BrokerRejected) as e:   # BrokerFatal (the token) propagates
            self.poll_failures += 1
            self.last_poll_error = str(e)
            return []

    def _poll(self) -> list:
        self._throttle.take_api("orders")
        orders = [o for o in self._remember(self._http.orders()) if o.client_order_id]
        events: list = []
        if any(o.filled_qty > self._traded_qty.get(o.broker_order_id, 0) for o in orders):
            if not self._throttle.api_room():
                self._next_poll_ns = 0        # report nothing until the trades can come first
                return []
            self._throttle.take_api("trades")
            events.extend(self._new_trades(self._http.trades()))
        for order in orders:
            if self._reported.get(order.broker_order_id) != order:
                self._reported[order.broker_order_id] = order
                events.append(order)
        return events

    def _new_trades(self, rows: list[dict]) -> list[BrokerTrade]:
        out = []
        for row in rows:
            trade = parse.trade_from_row(row, self._index_of_key, self._client_ids)
            if trade is None or not trade.client_order_id or trade.trade_id in self._trade_ids:
                continue
            self._trade_ids.add(trade.trade_id)
            self._traded_qty[trade.broker_order_id] = \
                self._traded_qty.get(trade.broker_order_id, 0) + trade.qty
            out.append(trade)
        return out

    def close(self) -> None:
        self._http.close()

    # ---------------------------------------------------------------- internals

    def _remember(self, rows: list[dict]) -> list[BrokerOrder]:
        out = []
        for row in rows:
            order = parse.order_from_row(row, self._index_of_key)
            if order is None:
                continue
            self._client_ids.setdefault(order.broker_order_id, order.client_order_id)
            self._known[order.broker_order_id] = order
            out.append(order)
        return out

    def _lookup(self, broker_order_id: str) -> BrokerOrder:
        found = next((o for o in self.orders() if o.broker_order_id == broker_order_id), None)
        if found is None:
            raise BrokerRejected(f"upstox modify_order: order {broker_order_id} is not in today's "
                                 f"book", code="UnknownOrder")
        return found

    def _placement_fields(self, req: OrderRequest) -> dict:
        """PlaceOrderV3Request fields, or BrokerRejected (nothing sent) for what Upstox would refuse."""
        self._check_request(req)
        fields = {"quantity": int(req.qty), "product": PRODUCT_OF.get(req.product, "I"),
                  "validity": req.validity, "instrument_token": self._rows[req.instrument]
                  ["broker_key"].decode(), "order_type": req.order_type,
                  "transaction_type": parse.TRANSACTION_OF[req.side], "tag": req.client_order_id,
                  "price": float(req.price) if req.order_type in ("LIMIT", "SL") else 0.0,
                  "trigger_price": float(req.trigger_price) if req.order_type in ("SL", "SL-M")
                  else 0.0, "disclosed_quantity": 0, "is_amo": False, "slice": False}
        if req.order_type in MARKET_PROTECTED and self._settings.market_protection is not None:
            fields["market_protection"] = self._settings.market_protection
        return fields

    def _check_request(self, req: OrderRequest) -> None:
        coid, problem, code = req.client_order_id, "", "InvalidRequest"
        if not coid or len(coid) > TAG_MAX_LEN or not coid.isalnum():
            problem = f"client order id {coid!r} is not 1-{TAG_MAX_LEN} alphanumeric characters"
        elif req.side not in (1, -1) or req.order_type not in ORDER_TYPES or req.qty <= 0:
            problem = f"bad side {req.side}, order type {req.order_type!r} or quantity {req.qty}"
        elif not 0 <= req.instrument < len(self._rows) or not self._rows[req.instrument]["broker_key"]:
            problem = f"instrument {req.instrument} is unknown or has no Upstox instrument_key"
        elif req.order_type in ("LIMIT", "SL") and not req.price > 0:
            problem = f"{req.order_type} needs a positive price"
        elif req.order_type in ("SL", "SL-M") and not req.trigger_price > 0:
            problem = f"{req.order_type} needs a positive trigger price"
        else:
            problem, code = self._exchange_rule_violation(req)
        if problem:
            raise BrokerRejected(f"upstox place_order {coid}: {problem}", code=code)

    def _exchange_rule_violation(self, req: OrderRequest) -> tuple[str, str]:
        row = self._rows[req.instrument]
        freeze, lot, tick = int(row["freeze_qty"]), int(row["lot_size"]), float(row["tick_size"])
        if freeze and req.qty > freeze:
            return (f"quantity {req.qty} is above the freeze quantity {freeze}: slice it into orders "
                    f"of their own"), "ABOVE_FREEZE_QTY"
        if lot > 1 and req.qty % lot:
            return f"quantity {req.qty} is not a multiple of the lot size {lot}", "LOT_SIZE"
        for name, value in (("price", req.price), ("trigger price", req.trigger_price)):
            if value and tick > 0 and abs(value / tick - round(value / tick)) > 1e-6:
                return f"{name} {value} is not a multiple of the tick size {tick}", "TICK_SIZE"
        return "", "InvalidRequest"
