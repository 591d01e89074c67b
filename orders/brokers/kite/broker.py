"""KiteBroker: the Broker interface (orders/brokers/base.py) over Kite Connect's REST API.

- place: variety regular, the request's product (MIS by default), tag = client_order_id, and
  `market_protection` on every MARKET and SL-M order (Kite refuses those without it). A 200 means
  Kite accepted the request, not that the exchange did: a later RMS rejection shows up as a
  REJECTED BrokerOrder from poll_events. A timeout or 5xx raises BrokerRetryable: OUTCOME UNKNOWN,
  the engine looks the tag up (find_by_client_id) before anything else. Nothing is retried here.
- Quantity above the instrument's freeze quantity is refused before sending (BrokerRejected, code
  ABOVE_FREEZE_QTY; so are a quantity off the lot size and a price off the tick size, which the
  exchange would refuse anyway): the engine slices (orders/brackets.slice_sizes) and gives every
  slice its own client order id, which is what keeps each slice findable after a crash. Kite's
  autoslice is not used: its children carry no tag of ours (fixtures: an autoslice child has tag
  null and tags ["autoslice", "autoslice:<parent>"]), so an in-doubt autosliced placement could not
  be looked up.
- cancel returns CANCEL_PENDING: the exchange confirms later, through poll_events.
- poll_events reads the order book at most every `poll_interval_ms` (and the trade book only when an
  order's filled quantity grew), and returns new BrokerTrades followed by BrokerOrders whose state
  changed: orders/brokers/live.py, the skeleton shared with Upstox.
- on_order_update takes the order updates KiteTicker pushes (feed forwards them): the next
  poll_events, due or not, reports them through the same diff as the polls (orders/brokers/
  orderdiff.py), so an update seen twice, by the socket and by a poll, is reported once. Updates for
  orders without our tag, or with a tag this adapter neither placed nor was asked about (another
  app's), are ignored and counted. Polling stays the safety net and the truth after a restart.
- Every request passes a client-side throttle (orders/brokers/kite/ratelimit.py) that raises
  BrokerRetryable(code "throttled") without sending.
- Optional native protection (capability "gtt_oco", config broker.kite.use_gtt): `place_oco` /
  `delete_oco`, a two-leg GTT whose legs are LIMIT exits.
"""

import time

from common.errors import BrokerRejected
from orders import statemachine as sm
from orders.brokers.base import (
    CAP_GTT_OCO,
    CAP_PARTIAL_FILLS,
    BrokerAck,
    BrokerOrder,
    BrokerTrade,
    OrderRequest,
)
from orders.brokers.kite import parse
from orders.brokers.kite.config import KiteSettings
from orders.brokers.kite.credentials import session_credentials
from orders.brokers.kite.http import KiteHttp, gtt_leg
from orders.brokers.kite.ratelimit import KiteRateLimit
from orders.brokers.live import LiveBroker, check_order
from orders.brokers.replies import object_of

MARKET_PROTECTED = ("MARKET", "SL-M")


class KiteBroker(LiveBroker):
    """Parameters
    ----------
    instruments : an InstrumentTable (or anything with index_of_token, symbol, exchange, freeze_qty
        and __len__).
    settings : KiteSettings.
    credentials : KiteCredentials (orders/brokers/kite/credentials.py).
    clock : wall-clock ns, for the throttle and the poll interval.
    """

    config_key, settings_type, parse = "kite", KiteSettings, parse
    credentials_for = staticmethod(session_credentials)

    def __init__(self, instruments, settings: KiteSettings, credentials, *, clock=time.time_ns):
        self._instruments = instruments
        super().__init__(KiteHttp(credentials, settings.root, settings.timeout_s),
                         KiteRateLimit(settings, clock), settings, clock)
        caps = {CAP_PARTIAL_FILLS} | ({CAP_GTT_OCO} if settings.use_gtt else set())
        self.capabilities = frozenset(caps)
        # broker order id -> its order type (modify sends it)
        self._order_types: dict[str, str] = {}

    # ---------------------------------------------------------------- order entry

    def place(self, req: OrderRequest) -> BrokerAck:
        params = self._placement_params(req)
        # before sending: its update may overtake the answer
        self._ours.add(req.client_order_id)
        self._throttle.take_order()
        order_id = self._http.place_order(self._settings.variety, **params)
        self._client_ids[order_id] = req.client_order_id
        self._order_types[order_id] = req.order_type
        return BrokerAck(order_id, req.client_order_id, sm.ACCEPTED)

    def modify(self, broker_order_id: str, qty: int | None = None, price: float | None = None,
               trigger_price: float | None = None) -> BrokerAck:
        params: dict[str, int | float | str] = {
            k: v
            for k, v in (("quantity", qty), ("price", price), ("trigger_price", trigger_price))
            if v is not None
        }
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
        return BrokerAck(
            broker_order_id, self._client_ids.get(broker_order_id, ""), sm.CANCEL_PENDING
        )

    # ---------------------------------------------------------------- lookups

    def positions(self):
        self._throttle.take_api("positions")
        data = object_of(self._http.positions(), "kite", "positions")
        return parse.positions_from_data(data, self._instruments, on_bad=self._bad_position)

    # ---------------------------------------------------------------- events

    def _order_from_update(self, payload: str) -> BrokerOrder | None:
        return parse.order_from_update(payload, self._instruments)

    # ---------------------------------------------------------------- GTT (OCO exits)

    def place_oco(self, instrument: int, position_side: int, qty: int, stop_price: float,
                  target_price: float, last_price: float, product: str = "MIS") -> str:
        """A two-leg GTT protecting a position of `position_side` (+1 long, -1 short): a LIMIT exit
        at the stop and one at the target; Kite cancels the other leg when one fires. Returns its
        id."""
        if CAP_GTT_OCO not in self.capabilities:
            raise BrokerRejected("two-leg GTT is off (broker.kite.use_gtt)", code="GTT_DISABLED")
        exit_side = parse.TRANSACTION_OF[-position_side]
        stop, target = gtt_leg(exit_side, qty, stop_price, product), gtt_leg(exit_side, qty,
                                                                            target_price, product)
        lower, upper = (stop, target) if position_side > 0 else (target, stop)
        if not lower["price"] < last_price < upper["price"]:
            raise BrokerRejected(
                f"GTT triggers {lower['price']} / {upper['price']} must bracket the "
                f"last price {last_price}",
                code="InputException",
            )
        self._throttle.take_api("place_gtt")
        trigger_id = self._http.place_gtt_oco(
            self._instruments.exchange(instrument), self._instruments.symbol(instrument),
            [lower["price"], upper["price"]], float(last_price), [lower, upper])
        return str(trigger_id)

    def delete_oco(self, trigger_id: str) -> None:
        self._throttle.take_api("delete_gtt")
        self._http.delete_gtt(int(trigger_id))

    # ---------------------------------------------------------------- internals

    def _order_from_row(self, row: dict) -> BrokerOrder | None:
        return parse.order_from_row(row, self._instruments)

    def _trade_from_row(self, row: dict) -> BrokerTrade | None:
        return parse.trade_from_row(row, self._instruments, self._client_ids)

    def _note(self, order: BrokerOrder) -> None:
        self._order_types[order.broker_order_id] = order.order_type

    def _last_status(self, broker_order_id: str) -> str:
        order = self._diff.last(broker_order_id)
        return order.status if order is not None and order.status in sm.WORKING else sm.ACCEPTED

    def _placement_params(self, req: OrderRequest) -> dict:
        """Kite's place_order arguments, or BrokerRejected (nothing sent) for what Kite would
        refuse."""
        self._check_request(req)
        i = req.instrument
        params = {
            "exchange": self._instruments.exchange(i),
            "tradingsymbol": self._instruments.symbol(i),
            "transaction_type": parse.TRANSACTION_OF[req.side],
            "quantity": int(req.qty),
            "product": req.product,
            "order_type": req.order_type,
            "validity": req.validity,
            "tag": req.client_order_id,
        }
        if req.order_type in ("LIMIT", "SL"):
            params["price"] = float(req.price)
        if req.order_type in ("SL", "SL-M"):
            params["trigger_price"] = float(req.trigger_price)
        if req.order_type in MARKET_PROTECTED:
            params["market_protection"] = self._settings.market_protection
        return params

    def _check_request(self, req: OrderRequest) -> None:
        i, table = req.instrument, self._instruments
        check_order(req, broker="kite", code="InputException",
                    instrument_problem="" if 0 <= i < len(table) else f"unknown instrument {i}",
                    limits=lambda i: (table.freeze_qty(i), table.lot_size(i), table.tick_size(i)))
