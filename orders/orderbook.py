"""The engine's order book: every order OTrade sent today, changed ONLY by order events.

`OrderBook.apply(event)` is called with each event right after the engine emitted (journaled) it,
and with each journaled event on restore, so the book after a restart is exactly the book before it.
The status of an order moves through the transition table in orders/statemachine.py; an illegal move
is counted in `illegal_transitions`, never raised. Fills are applied once per fill id
(`duplicate_fills` counts the rest). The one thing not journaled is a cancel request in flight
(CANCEL_PENDING): if it is lost in a crash, the engine simply asks again, and a cancel is
idempotent.

Imports only the standard library, `common.messages` and the state machine.
"""

from dataclasses import dataclass
from typing import overload

from common.messages import (OrderAccepted, OrderCanceled, OrderFilled, OrderInDoubt, OrderModified,
                             OrderRejected, OrderSubmitting)
from orders import statemachine as sm

# The events an order's record changes by.
OrderEvent = (OrderSubmitting | OrderAccepted | OrderFilled | OrderCanceled | OrderRejected
              | OrderInDoubt | OrderModified)

EXIT_ROLES = frozenset(("STOP", "TARGET", "SQUAREOFF", "FLATTEN"))
CLOSE_ROLES = frozenset(("SQUAREOFF", "FLATTEN"))
_TRANSITIONS, _WORKING = sm.TRANSITIONS, sm.WORKING
_UNRESOLVED = frozenset((sm.SUBMITTING, sm.IN_DOUBT))   # placement outcome not known


@dataclass(slots=True, eq=False)
class Order:
    client_order_id: str
    intent_id: str
    strategy: str
    bracket_id: str
    role: str
    instrument: int
    symbol: str
    side: int
    qty: int
    order_type: str
    price: float
    trigger_price: float
    tick_seq: int            # the tick it was (last) submitted on
    submitted_ns: int        # market clock at that submission
    status: str = sm.NEW
    broker_order_id: str = ""
    filled_qty: int = 0
    filled_value: float = 0.0
    fees_inr: float = 0.0
    n_fills: int = 0
    attempts: int = 0        # OrderSubmitting events (a re-send after an in-doubt lookup adds one)
    settled_ns: int = 0      # market clock of the last reject / in-doubt, for retry pacing
    reason: str = ""
    reject_code: str = ""    # OrderRejected.code: "FATAL" = our session was refused, not the order
    index: int = 0           # submission order in the book (iteration order of every subset)
    # The broker reported this stop triggered. Not journaled: a fact of the broker's, read again
    # from it after a restart (orders/recovery.py `final_statuses`).
    triggered: bool = False
    # Nothing of this order can have reached the broker: submitted by this process, and every
    # attempt refused by the adapter's own rate limit before sending (BrokerRetryable code
    # THROTTLED), so its retry needs no in-doubt lookup. Not journaled: an order restored from the
    # journal may have gone out before the crash, and is looked up, which is always safe.
    unsent: bool = False

    @property
    def leaves(self) -> int:
        """Quantity the broker may still execute (0 once the order is final)."""
        return self.qty - self.filled_qty if self.status in sm.WORKING else 0

    @property
    def working(self) -> bool:
        return self.status in sm.WORKING

    @property
    def avg_price(self) -> float:
        return self.filled_value / self.filled_qty if self.filled_qty else 0.0


class OrderBook:
    def __init__(self):
        self.orders: dict[str, Order] = {}          # by client order id, in submission order
        self.by_broker_id: dict[str, Order] = {}
        self._working: dict[str, Order] = {}         # the WORKING subset, same order
        self._working_entries: dict[str, Order] = {}  # ... of role ENTRY (what risk sums up)
        self._working_closes: dict[str, Order] = {}   # ... of a CLOSE_ROLES role (reachable)
        self._working_sl_stops: dict[str, Order] = {}  # ... STOP legs of type SL (price alerts)
        self._unresolved: dict[str, Order] = {}       # ... whose placement outcome is unknown
        self._closes_on: dict[int, list[Order]] = {}  # square-off/flatten orders, by instrument
        self.fill_ids: set[str] = set()
        self.illegal_transitions = 0
        self.duplicate_fills = 0
        self.unknown_events = 0

    def get(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    def working(self) -> list[Order]:
        return list(self._working.values())

    @property
    def n_working(self) -> int:
        return len(self._working)

    def working_entries(self) -> list[Order]:
        return list(self._working_entries.values())

    def working_closes(self) -> list[Order]:
        """The working square-off and flatten orders, in submission order."""
        return list(self._working_closes.values())

    def closes_on(self, instrument: int) -> list[Order]:
        """Every square-off and flatten order sent on `instrument` today, in submission order."""
        return list(self._closes_on.get(instrument, ()))

    def working_sl_stops(self) -> list[Order]:
        """The working STOP legs of order type SL, in submission order."""
        return list(self._working_sl_stops.values())

    def unresolved(self) -> list[Order]:
        """Orders whose placement outcome the engine does not know, in submission order.

        Kept as its own subset: the engine asks on every event tick, and a day's book holds
        thousands of working orders while this is almost always empty.
        """
        if len(self._unresolved) < 2:
            return list(self._unresolved.values())
        return sorted(self._unresolved.values(), key=_by_index)

    @overload
    def apply(self, msg: OrderSubmitting) -> Order: ...      # a submission always has its order

    @overload
    def apply(self, msg: OrderEvent) -> Order | None: ...

    def apply(self, msg: OrderEvent) -> Order | None:
        """Apply one order event; returns the order it touched (None for an unknown order)."""
        if isinstance(msg, OrderSubmitting):
            return self._submitting(msg)
        order = self.orders.get(msg.client_order_id)
        if order is None:
            self.unknown_events += 1
            return None
        if isinstance(msg, OrderAccepted):
            order.broker_order_id = msg.broker_order_id or order.broker_order_id
            self.by_broker_id[order.broker_order_id] = order
            self._move(order, sm.ACCEPT)
        elif isinstance(msg, OrderFilled):
            self._filled(order, msg)
        elif isinstance(msg, OrderCanceled):
            self._move(order, sm.CANCEL)
        elif isinstance(msg, OrderRejected):
            order.reason, order.reject_code = msg.reason, msg.code
            order.settled_ns = msg.ts_event_ns
            if msg.broker_order_id:
                order.broker_order_id = msg.broker_order_id
            self._move(order, sm.REJECT)
        elif isinstance(msg, OrderModified):
            order.qty, order.price, order.trigger_price = msg.qty, msg.price, msg.trigger_price
        elif isinstance(msg, OrderInDoubt):
            order.settled_ns = msg.ts_event_ns
            self._move(order, sm.IN_DOUBT_EVENT)
        return order

    def request_cancel(self, order: Order) -> None:
        """Mark a cancel in flight (not journaled; see the module docstring)."""
        self._move(order, sm.CANCEL_REQUEST)

    def _submitting(self, msg: OrderSubmitting) -> Order:
        order = self.orders.get(msg.client_order_id)
        if order is None:
            order = Order(msg.client_order_id, msg.intent_id, msg.strategy, msg.bracket_id,
                          msg.role, msg.instrument, msg.symbol, msg.side, msg.qty, msg.order_type,
                          msg.price, msg.trigger_price, msg.tick_seq, msg.ts_event_ns,
                          index=len(self.orders))
            self.orders[order.client_order_id] = order
            if order.role in CLOSE_ROLES:
                self._closes_on.setdefault(order.instrument, []).append(order)
        order.tick_seq, order.submitted_ns = msg.tick_seq, msg.ts_event_ns
        order.attempts += 1
        self._move(order, sm.SUBMIT)
        return order

    def _filled(self, order: Order, msg: OrderFilled) -> None:
        if msg.fill_id in self.fill_ids:
            self.duplicate_fills += 1
            return
        self.fill_ids.add(msg.fill_id)
        if msg.broker_order_id and not order.broker_order_id:
            order.broker_order_id = msg.broker_order_id
            self.by_broker_id[msg.broker_order_id] = order
        order.filled_qty += msg.qty
        order.filled_value += msg.qty * msg.price
        order.fees_inr += msg.fees_inr
        order.n_fills += 1
        self._move(order, sm.fill_event(order.qty - order.filled_qty))

    def _move(self, order: Order, event: str) -> None:
        new = _TRANSITIONS.get((order.status, event))   # sm.transition, inlined: the hottest call
        if new is None:
            self.illegal_transitions += 1   # the status stays; the subsets are still checked
            new = order.status
        else:
            order.status = new
        # The subsets change only when the order enters or leaves them (most moves keep an order
        # working: ACCEPTED -> PARTIALLY_FILLED, SUBMITTING -> ACCEPTED, ...). Membership is read
        # from the subset itself, so the subsets stay right whatever the status was before.
        coid = order.client_order_id
        if (new in _WORKING) != (coid in self._working):
            if new in _WORKING:
                self._working[coid] = order
                if order.role == "ENTRY":
                    self._working_entries[coid] = order
                elif order.role in CLOSE_ROLES:
                    self._working_closes[coid] = order
                elif order.role == "STOP" and order.order_type == "SL":
                    self._working_sl_stops[coid] = order
            else:
                del self._working[coid]
                self._working_entries.pop(coid, None)
                self._working_closes.pop(coid, None)
                self._working_sl_stops.pop(coid, None)
        if (new in _UNRESOLVED) != (coid in self._unresolved):
            if new in _UNRESOLVED:
                self._unresolved[coid] = order
            else:
                del self._unresolved[coid]


def _by_index(order: Order) -> int:
    return order.index
