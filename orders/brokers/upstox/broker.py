"""UpstoxBroker: the Broker interface (orders/brokers/base.py) over Upstox's REST API (SDK v3
orders).

- place: POST /v3/order/place with tag = client_order_id, product I (intraday; CNC/NRML → D),
  validity DAY, slice off, and `market_protection` on MARKET and SL-M orders. A 200 means Upstox
  took the request, not that the exchange did: a later RMS rejection arrives as a REJECTED
  BrokerOrder from poll_events. A timeout, network error, 429 or 5xx raises BrokerRetryable: OUTCOME
  UNKNOWN, the engine looks the tag up (find_by_client_id) first. Nothing is retried here.
- Refused before sending (BrokerRejected, nothing on the wire, no place in the rate limit): a bad
  client id, side, type or quantity, an instrument without an instrument_key, a quantity above the
  freeze quantity or off the lot size, a price off the tick size. The engine slices; Upstox's own
  `slice` is off because its children could not be told apart by our tag after a crash.
- modify: Upstox wants the whole order (type, validity, price, trigger) with the new values, so the
  order's last known state fills the gaps (read from the book when unknown).
- cancel returns CANCEL_PENDING: the exchange confirms later, through poll_events.
- poll_events reads the order book at most every `poll_interval_ms` and the trade book only when a
  filled quantity grew, and returns new BrokerTrades then the BrokerOrders whose state changed; only
  ours (non-empty tag): orders/brokers/live.py and orderdiff.py, shared with Kite.
- on_order_update takes the order updates Upstox's portfolio stream pushes (feed owns that socket,
  feed/sources/upstox/orderstream.py, and forwards each as a BrokerOrderUpdate): the next
  poll_events, due or not, reports them through the same diff as the polls (orders/brokers/
  orderdiff.py), so a change seen by both the stream and a poll is reported once, an older update
  never overrides a newer state, a final state stays final and a filled quantity never shrinks. A
  pushed fill reads the trade book at once, so its trades still come before the order they fill.
  Updates for orders without our tag, or with a tag this adapter neither placed nor was asked about
  (another app's), are ignored and counted, as are updates that do not validate ("malformed").
  Polling stays the safety net and the truth after a restart.
- Every request passes the client-side throttle (ratelimit.py): order APIs 10/s, 500/min, 2000/30
  min.
"""

import time

from common.errors import BrokerRejected
from orders import statemachine as sm
from orders.brokers.base import CAP_PARTIAL_FILLS, BrokerAck, BrokerOrder, BrokerTrade, OrderRequest
from orders.brokers.live import LiveBroker, check_order
from orders.brokers.replies import rows_of
from orders.brokers.upstox import parse
from orders.brokers.upstox.config import PRODUCT_OF, UpstoxSettings
from orders.brokers.upstox.credentials import session_credentials
from orders.brokers.upstox.http import UpstoxHttp
from orders.brokers.upstox.ratelimit import UpstoxRateLimit

MARKET_PROTECTED = ("MARKET", "SL-M")


class UpstoxBroker(LiveBroker):
    """Parameters
    ----------
    instruments : INSTRUMENT_DTYPE rows or an InstrumentTable (its .rows); broker_key holds the
        Upstox instrument_key.
    settings : UpstoxSettings.
    credentials : UpstoxCredentials.
    clock : wall-clock ns, for the throttle and the poll interval.
    """

    config_key, settings_type, parse = "upstox", UpstoxSettings, parse
    credentials_for = staticmethod(session_credentials)

    def __init__(self, instruments, settings: UpstoxSettings, credentials, *, clock=time.time_ns):
        self._rows = getattr(instruments, "rows", instruments)
        self._index_of_key = {r["broker_key"].decode(): i for i, r in enumerate(self._rows)
                              if r["broker_key"]}
        super().__init__(
            UpstoxHttp(credentials, settings.host, settings.order_host, settings.timeout_s,
                       settings.algo_name),
            UpstoxRateLimit(settings, clock),
            settings,
            clock,
        )
        self.capabilities = frozenset({CAP_PARTIAL_FILLS})
        self._known: dict[str, BrokerOrder] = {}     # last order-book state, by order id (modify)

    # ---------------------------------------------------------------- order entry

    def place(self, req: OrderRequest) -> BrokerAck:
        fields = self._placement_fields(req)
        # before sending: its update may overtake the answer
        self._ours.add(req.client_order_id)
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

    def positions(self):
        self._throttle.take_api("positions")
        rows = rows_of(self._http.positions(), "upstox", "positions")
        return parse.positions_from_rows(rows, self._index_of_key, on_bad=self._bad_position)

    # ---------------------------------------------------------------- pushed order updates

    def _order_from_update(self, payload: str) -> BrokerOrder | None:
        return parse.order_from_update(payload, self._index_of_key)

    # ---------------------------------------------------------------- internals

    def _order_from_row(self, row: dict) -> BrokerOrder | None:
        return parse.order_from_row(row, self._index_of_key)

    def _trade_from_row(self, row: dict) -> BrokerTrade | None:
        return parse.trade_from_row(row, self._index_of_key, self._client_ids)

    def _note(self, order: BrokerOrder) -> None:
        self._known[order.broker_order_id] = order

    def _lookup(self, broker_order_id: str) -> BrokerOrder:
        found = next((o for o in self.orders() if o.broker_order_id == broker_order_id), None)
        if found is None:
            raise BrokerRejected(f"upstox modify_order: order {broker_order_id} is not in today's "
                                 f"book", code="UnknownOrder")
        return found

    def _placement_fields(self, req: OrderRequest) -> dict:
        """PlaceOrderV3Request fields, or BrokerRejected (nothing sent) for what Upstox would
        refuse."""
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
        i, rows = req.instrument, self._rows
        known = 0 <= i < len(rows) and rows[i]["broker_key"]
        check_order(req, broker="upstox", code="InvalidRequest",
                    instrument_problem="" if known else
                    f"instrument {i} is unknown or has no Upstox instrument_key",
                    limits=lambda i: (int(rows[i]["freeze_qty"]), int(rows[i]["lot_size"]),
                                      float(rows[i]["tick_size"])))
