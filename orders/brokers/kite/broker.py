"""KiteBroker: the Broker interface (orders/brokers/base.py) over Kite Connect's REST API.

- place: variety regular, the request's product (MIS by default), tag = client_order_id, and
  `market_protection` on every MARKET and SL-M order (Kite refuses those without it). A 200 means
  Kite accepted the request, not that the exchange did: a later RMS rejection shows up as a
  REJECTED BrokerOrder from poll_events. A timeout or 5xx raises BrokerRetryable: OUTCOME UNKNOWN,
  the engine looks the tag up (find_by_client_id) before anything else. Nothing is retried here.
- Quantity above the instrument's freeze quantity is refused before sending (BrokerRejected, code
  ABOVE_FREEZE_QTY; so are a quantity off the lot size and a price off the tick size, which the
  exchange would refuse anyway): the engine slices (orders/brackets.slice_sizes) and gives every slice its own
  client order id, which is what keeps each slice findable after a crash. Kite's autoslice is not
  used: its children carry no tag of ours (fixtures: an autoslice child has tag null and tags
  ["autoslice", "autoslice:<parent>"]), so an in-doubt autosliced placement could not be looked up.
- cancel returns CANCEL_PENDING: the exchange confirms later, through poll_events.
- poll_events reads the order book at most every `poll_interval_ms` (and the trade book only when an
  order's filled quantity grew), and returns new BrokerTrades (each trade_id once per process; the
  engine dedupes across restarts by fill id) followed by BrokerOrders whose state changed. Only our
  orders (a non-empty tag) are reported. A failed poll is counted and skipped; a BrokerFatal (token)
  propagates.
- Every request passes a client-side throttle (orders/brokers/kite/throttle.py) that raises
  BrokerRetryable(code "throttled") without sending.
- Optional native protection (capability "gtt_oco", config broker.kite.use_gtt): `place_oco` /
  `delete_oco`, a two-leg GTT whose legs are LIMIT exits.
"""

import time

from common.errors import BrokerRejected, BrokerRetryable
from orders import statemachine as sm
from orders.brokers.base import (CAP_GTT_OCO, CAP_PARTIAL_FILLS, ORDER_TYPES, Broker, BrokerAck,
                                 BrokerOrder, BrokerTrade, OrderRequest)
from orders.brokers.kite import parse
from orders.brokers.kite.config import KiteSettings
from orders.brokers.kite.credentials import session_credentials
from orders.brokers.kite.http import KiteHttp, gtt_leg
from orders.brokers.kite.throttle import KiteThrottle

MARKET_PROTECTED = ("MARKET", "SL-M")
TAG_MAX_LEN = 20
NS_PER_MS = 1_000_000


class KiteBroker(Broker):
    """Parameters
    ----------
    instruments : an InstrumentTable (or anything with index_of_token, symbol, exchange, freeze_qty
        and __len__).
    settings : KiteSettings.
    credentials : KiteCredentials (orders/brokers/kite/credentials.py).
    clock : wall-clock ns, for the throttle and the poll interval.
    """

    def __init__(self, instruments, settings: KiteSettings, credentials, *, clock=time.time_ns):
        self._instruments = instruments
        self._settings = settings
        self._clock = clock
        self._http = KiteHttp(credentials, settings.root, settings.timeout_s)
        self._throttle = KiteThrottle(settings, clock)
        caps = {CAP_PARTIAL_FILLS} | ({CAP_GTT_OCO} if settings.use_gtt else set())
        self.capabilities = frozenset(caps)
        self._client_ids: dict[str, str] = {}       # broker order id -> our client order id
        self._order_types: dict[str, str] = {}
        self._reported: dict[str, BrokerOrder] = {}  # last state poll_events returned, by order id
        self._traded_qty: dict[str, int] = {}       # units of trades returned, by order id
        self._trade_ids: set[str] = set()
        self._next_poll_ns = 0
        self.poll_failures = 0
        self.last_poll_error = ""

    @classmethod
    def from_config(cls, config, secrets, instruments, **overrides) -> "KiteBroker":
        """From the validated Config and Secrets; `overrides` replace KiteSettings fields."""
        settings = KiteSettings.from_config(config.broker.kite, **overrides)
        return cls(instruments, settings, session_credentials(secrets, settings.local_server))

    @property
    def requests_sent(self) -> int:
        return self._http.requests_sent

    # ---------------------------------------------------------------- order entry

    def place(self, req: OrderRequest) -> BrokerAck:
        params = self._placement_params(req)
        self._throttle.take_order()
        order_id = self._http.place_order(self._settings.variety, **params)
        self._client_ids[order_id] = req.client_order_id
        self._order_types[order_id] = req.order_type
        return BrokerAck(order_id, req.client_order_id, sm.ACCEPTED)

    def modify(self, broker_order_id: str, qty: int | None = None, price: float | None = None,
               trigger_price: float | None = None) -> BrokerAck:
        params = {k: v for k, v in (("quantity", qty), ("price", price),
                                    ("trigger_price", trigger_price)) if v is not None}
        order_type = self._order_types.get(broker_order_id)
        if order_type:
            params["order_type"] = order_type
        if order_type in MARKET_PROTECTED:
            params["market_protection"] = self._settings.market_protection
        self._throttle.take_api("modify_order")
        self._http.modify_order(self._settings.variety, broker_order_id, **params)
        return BrokerAck(broker_order_id, self._client_ids.get(broker_order_id, ""),
                         self._last_status(broker_order_id))

    def cancel(self, broker_order_id: str) -> BrokerAck:
        self._throttle.take_api("cancel_order")
        self._http.cancel_order(self._settings.variety, broker_order_id)
        return BrokerAck(broker_order_id, self._client_ids.get(broker_order_id, ""), sm.CANCEL_PENDING)

    # ---------------------------------------------------------------- lookups

    def find_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The first order in today's book tagged `client_order_id`, or None: the in-doubt lookup."""
        for order in self.orders():
            if order.client_order_id == client_order_id:
                return order
        return None

    def orders(self) -> list[BrokerOrder]:
        self._throttle.take_api("orders")
        return self._remember(self._http.orders())

    def trades(self) -> list[BrokerTrade]:
        self._throttle.take_api("trades")
        rows = self._http.trades()
        if any(str(r["order_id"]) not in self._client_ids for r in rows):
            self.orders()   # trades carry no tag: the order book says whose they are
        trades = (parse.trade_from_row(r, self._instruments, self._client_ids) for r in rows)
        return [t for t in trades if t is not None]

    def positions(self):
        self._throttle.take_api("positions")
        return parse.positions_from_data(self._http.positions(), self._instruments)

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
        grew = any(o.filled_qty > self._traded_qty.get(o.broker_order_id, 0) for o in orders)
        events: list = []
        if grew:
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
            trade = parse.trade_from_row(row, self._instruments, self._client_ids)
            if trade is None or not trade.client_order_id or trade.trade_id in self._trade_ids:
                continue
            self._trade_ids.add(trade.trade_id)
            self._traded_qty[trade.broker_order_id] = \
                self._traded_qty.get(trade.broker_order_id, 0) + trade.qty
            out.append(trade)
        return out

    # ---------------------------------------------------------------- GTT (OCO exits)

    def place_oco(self, instrument: int, position_side: int, qty: int, stop_price: float,
                  target_price: float, last_price: float, product: str = "MIS") -> str:
        """A two-leg GTT protecting a position of `position_side` (+1 long, -1 short): a LIMIT exit at
        the stop and one at the target; Kite cancels the other leg when one fires. Returns its id."""
        if CAP_GTT_OCO not in self.capabilities:
            raise BrokerRejected("two-leg GTT is off (broker.kite.use_gtt)", code="GTT_DISABLED")
        exit_side = parse.TRANSACTION_OF[-position_side]
        stop, target = gtt_leg(exit_side, qty, stop_price, product), gtt_leg(exit_side, qty,
                                                                            target_price, product)
        lower, upper = (stop, target) if position_side > 0 else (target, stop)
        if not lower["price"] < last_price < upper["price"]:
            raise BrokerRejected(f"GTT triggers {lower['price']} / {upper['price']} must bracket the "
                                 f"last price {last_price}", code="InputException")
        self._throttle.take_api("place_gtt")
        trigger_id = self._http.place_gtt_oco(
            self._instruments.exchange(instrument), self._instruments.symbol(instrument),
            [lower["price"], upper["price"]], float(last_price), [lower, upper])
        return str(trigger_id)

    def delete_oco(self, trigger_id: str) -> None:
        self._throttle.take_api("delete_gtt")
        self._http.delete_gtt(int(trigger_id))

    def close(self) -> None:
        self._http.close()

    # ---------------------------------------------------------------- internals

    def _remember(self, rows: list[dict]) -> list[BrokerOrder]:
        out = []
        for row in rows:
            order = parse.order_from_row(row, self._instruments)
            if order is None:
                continue
            self._client_ids.setdefault(order.broker_order_id, order.client_order_id)
            self._order_types[order.broker_order_id] = order.order_type
            out.append(order)
        return out

    def _last_status(self, broker_order_id: str) -> str:
        order = self._reported.get(broker_order_id)
        return order.status if order is not None and order.status in sm.WORKING else sm.ACCEPTED

    def _placement_params(self, req: OrderRequest) -> dict:
        """Kite's place_order arguments, or BrokerRejected (nothing sent) for what Kite would refuse."""
        self._check_request(req)
        i = req.instrument
        params = {"exchange": self._instruments.exchange(i), "tradingsymbol": self._instruments.symbol(i),
                  "transaction_type": parse.TRANSACTION_OF[req.side], "quantity": int(req.qty),
                  "product": req.product, "order_type": req.order_type, "validity": req.validity,
                  "tag": req.client_order_id}
        if req.order_type in ("LIMIT", "SL"):
            params["price"] = float(req.price)
        if req.order_type in ("SL", "SL-M"):
            params["trigger_price"] = float(req.trigger_price)
        if req.order_type in MARKET_PROTECTED:
            params["market_protection"] = self._settings.market_protection
        return params

    def _check_request(self, req: OrderRequest) -> None:
        coid = req.client_order_id
        problem, code = "", "InputException"
        if not coid or len(coid) > TAG_MAX_LEN or not coid.isalnum():
            problem = f"client order id {coid!r} is not 1-{TAG_MAX_LEN} alphanumeric characters"
        elif req.side not in (1, -1) or req.order_type not in ORDER_TYPES or req.qty <= 0:
            problem = f"bad side {req.side}, order type {req.order_type!r} or quantity {req.qty}"
        elif not 0 <= req.instrument < len(self._instruments):
            problem = f"unknown instrument {req.instrument}"
        elif req.order_type in ("LIMIT", "SL") and not req.price > 0:
            problem = f"{req.order_type} needs a positive price"
        elif req.order_type in ("SL", "SL-M") and not req.trigger_price > 0:
            problem = f"{req.order_type} needs a positive trigger price"
        else:
            problem, code = self._exchange_rule_violation(req)
        if problem:
            raise BrokerRejected(f"kite place_order {coid}: {problem}", code=code)

    def _exchange_rule_violation(self, req: OrderRequest) -> tuple[str, str]:
        """What the exchange would refuse anyway (Kite answers those with an RMS rejection): caught
        here so a doomed order costs no request and no place in the rate limit."""
        i = req.instrument
        freeze, lot, tick = (self._instruments.freeze_qty(i), self._instruments.lot_size(i),
                             self._instruments.tick_size(i))
        if freeze and req.qty > freeze:
            return (f"quantity {req.qty} is above the freeze quantity {freeze}: slice it into "
                    f"orders of their own"), "ABOVE_FREEZE_QTY"
        if lot > 1 and req.qty % lot:
            return f"quantity {req.qty} is not a multiple of the lot size {lot}", "LOT_SIZE"
        for name, value in (("price", req.price), ("trigger price", req.trigger_price)):
            if _off_tick(value, tick):
                return f"{name} {value} is not a multiple of the tick size {tick}", "TICK_SIZE"
        return "", "InputException"


def _off_tick(price: float, tick_size: float) -> bool:
    """True when a non-zero price is not a whole number of ticks, beyond float noise."""
    if not price or tick_size <= 0:
        return False
    steps = price / tick_size
    return abs(steps - round(steps)) > 1e-6
