"""The paper exchange's order book, rebuilt from (and only changed by) its journal records.

`PaperBook.apply(record)` is the one place state changes, both live (right after the record is
journaled) and when a broker is reopened, so a reopened broker is exactly the broker that died.

Record kinds (JSON objects; "seq"/"ts" are the broker's market clock when the record was made):
    place    boid coid instr symbol exchange side qty type price trigger after status reason
    modify   boid qty price trigger
    cancel   boid
    trigger  boid                  (a stop order triggered without filling on that tick)
    fill     boid trade_id qty price   ("seq"/"ts" are the tick it filled on)
"""

import bisect
from dataclasses import dataclass

from common.accounting import apply_trade
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerPosition, BrokerTrade


def off_tick(price: float, tick_size: float) -> bool:
    """True when a (non-zero) price is not a whole number of ticks, beyond float noise."""
    if price == 0.0 or tick_size <= 0.0:
        return False
    steps = price / tick_size
    return abs(steps - round(steps)) > 1e-6


# Only these trigger: a limit that fills is "triggered" in the bookkeeping, never reported so.
STOP_TYPES = ("SL", "SL-M")


@dataclass(slots=True)
class PaperOrder:
    broker_order_id: str
    client_order_id: str
    instrument: int
    symbol: str
    exchange: str
    side: int
    qty: int
    order_type: str
    price: float
    trigger_price: float
    after_seq: int
    status: str
    reason: str = ""
    filled_qty: int = 0
    filled_value: float = 0.0
    n_fills: int = 0
    triggered: bool = False
    trigger_seq: int = 0       # the tick it triggered on (0: not triggered)
    slot: int = -1

    @property
    def leaves(self) -> int:
        return 0 if self.status in sm.TERMINAL else self.qty - self.filled_qty

    def snapshot(self) -> BrokerOrder:
        avg = self.filled_value / self.filled_qty if self.filled_qty else 0.0
        return BrokerOrder(self.broker_order_id, self.client_order_id, self.instrument, self.symbol,
                           self.side, self.qty, self.order_type, self.price, self.trigger_price,
                           self.status, self.filled_qty, avg, self.reason,
                           triggered=self.triggered and self.order_type in STOP_TYPES,
                           trigger_seq=self.trigger_seq)


class PaperBook:
    def __init__(self):
        self.orders: dict[str, PaperOrder] = {}        # by broker order id, in placement order
        self.by_client_id: dict[str, PaperOrder] = {}  # the first order with that tag
        self.duplicate_client_ids = 0
        self.trades: list[BrokerTrade] = []
        self.clock_seq = 0
        self.clock_ns = 0
        self._working: dict[str, PaperOrder] = {}      # the working subset, placement order
        self._placed_ns: list[int] = []                # placement times, for the rate limit

    def next_broker_order_id(self) -> str:
        return f"P{len(self.orders) + 1:09d}"

    def set_clock(self, seq: int, ts_ns: int) -> None:
        if seq > self.clock_seq:
            self.clock_seq, self.clock_ns = seq, ts_ns

    def placements_within(self, since_ns: int) -> int:
        """How many placements happened strictly after `since_ns` (market clock)."""
        return len(self._placed_ns) - bisect.bisect_right(self._placed_ns, since_ns)

    def working(self) -> list[PaperOrder]:
        return list(self._working.values())

    def is_working(self, order: PaperOrder) -> bool:
        return order.broker_order_id in self._working

    def apply(self, record: dict) -> tuple[PaperOrder, BrokerTrade | None, bool]:
        """Apply one journal record; returns the order it touched, the trade it made (if any) and
        whether that order is still working."""
        seq = int(record["seq"])
        if seq > self.clock_seq:     # set_clock, inlined: this runs for every record
            self.clock_seq, self.clock_ns = seq, int(record["ts"])
        if record["k"] == "place":
            order, trade = self._apply_place(record), None
        else:
            order, trade = self._apply_change(record)
        # `order.leaves > 0` without the property: a WORKING status is never a TERMINAL one
        if order.status in sm.WORKING and order.qty > order.filled_qty:
            self._working.setdefault(order.broker_order_id, order)
            return order, trade, True
        self._working.pop(order.broker_order_id, None)
        return order, trade, False

    def _apply_change(self, record: dict) -> tuple[PaperOrder, BrokerTrade | None]:
        """Every kind but "place" (apply handles that one)."""
        kind = record["k"]
        order = self.orders[record["boid"]]
        if kind == "modify":
            order.qty = int(record["qty"])
            order.price = float(record["price"])
            order.trigger_price = float(record["trigger"])
        elif kind == "cancel":
            order.status = sm.CANCELED
        elif kind == "trigger":
            order.triggered = True
            order.trigger_seq = order.trigger_seq or int(record["seq"])
        elif kind == "fill":
            return order, self._apply_fill(order, record)
        return order, None

    def _apply_place(self, r: dict) -> PaperOrder:
        order = PaperOrder(r["boid"], r["coid"], int(r["instr"]), r["symbol"], r["exchange"],
                           int(r["side"]), int(r["qty"]), r["type"], float(r["price"]),
                           float(r["trigger"]), int(r["after"]), r["status"], r.get("reason", ""))
        self.orders[order.broker_order_id] = order
        if order.client_order_id in self.by_client_id:
            self.duplicate_client_ids += 1
        else:
            self.by_client_id[order.client_order_id] = order
        self._placed_ns.append(int(r["ts"]))
        return order

    def _apply_fill(self, order: PaperOrder, r: dict) -> BrokerTrade:
        qty, price = int(r["qty"]), float(r["price"])
        order.filled_qty += qty
        order.filled_value += qty * price
        order.n_fills += 1
        order.triggered = True
        order.trigger_seq = order.trigger_seq or int(r["seq"])
        if order.filled_qty >= order.qty:
            order.status = sm.FILLED
        elif order.status == sm.ACCEPTED:
            order.status = sm.PARTIALLY_FILLED
        trade = BrokerTrade(r["trade_id"], order.broker_order_id, order.client_order_id,
                            order.instrument, order.side, qty, price, int(r["seq"]), int(r["ts"]))
        self.trades.append(trade)
        return trade

    def positions(self, instruments) -> list[BrokerPosition]:
        """Net position per traded instrument, average-cost accounting, from the trades in order."""
        state: dict[int, list] = {}
        for t in self.trades:
            qty, avg, realised = state.get(t.instrument, (0, 0.0, 0.0))
            state[t.instrument] = list(apply_trade(qty, avg, realised, t.side * t.qty, t.price))
        out = []
        for instrument, (qty, avg, realised) in sorted(state.items()):
            symbol = instruments[instrument]["symbol"].decode()
            out.append(BrokerPosition(instrument, symbol, qty, avg if qty else 0.0, realised))
        return out
