"""The one interface every broker satisfies: paper (the default), Kite and Upstox.

Requirement table (what `tests/orders/brokers/broker_contract.py` checks for every broker):

    capabilities        frozenset of optional features: "gtt_oco", "autoslice", "partial_fills"
    reports_fills_async True when fills and order updates arrive between ticks (live): the stage
                        polls for them and a stop waits for them. Paper fills only on ticks: False.
    pushes_order_updates True when the feed forwards the broker's pushed order updates
                        (on_order_update): the stage subscribes to them. Paper: False.
    book_is_ours        True when the broker's book is this process's own (paper): nothing to
                        reconcile at start or periodically, and a stop reports the engine's view;
                        and a placement is in that book before place() returns, so none is ever in
                        flight: an order a lookup does not find was never received, however young
                        its attempt (orders/recovery.py). A live broker's request may still arrive.
    place(req)          send one order. Returns a BrokerAck: ACCEPTED, or REJECTED when the broker
                        recorded the order and refused it. Raises BrokerRejected when it refused
                        without recording anything, BrokerRetryable when the outcome is unknown or
                        the request was throttled, BrokerFatal on bad credentials. The adapter never
                        retries a placement itself.
    modify(id, ...)     absolute new values (qty is the order's new TOTAL quantity, filled part
                        included); idempotent. Returns a BrokerAck.
    cancel(id)          returns a BrokerAck: CANCELED when done, CANCEL_PENDING when the
                        confirmation will come through poll_events. Canceling a final order
                        raises BrokerRejected.
    find_by_client_id   the broker's record of our order (the client id rides in the tag), or None
                        if the broker never saw it: the in-doubt lookup.
    find_by_client_ids  the same for several orders at once, with one read of a live broker's
                        order book: id -> record or None; an id the broker's book cannot tell
                        (its row is malformed) is left out. Default: find_by_client_id each.
    orders(), trades()  the day's order book and executions (reconciliation, fill recovery).
                        Live brokers list OTrade's own only (a tag that can be our client id) and
                        skip a malformed row of ours, counted in `bad_rows`; a reply of the wrong
                        shape raises BrokerRetryable (orders/brokers/replies.py).
    positions()         net intraday positions per instrument.
    on_ticks(t, a, b)   paper: match working orders against ticks[a:b], stop at the first tick that
                        fills something and return its index (that tick is fully matched), else b.
                        Live brokers return b at once.
    poll_events()       BrokerOrder / BrokerTrade updates since the last call (paper fills, live
                        postbacks). Every execution arrives as a BrokerTrade.
    on_order_update(p)  optional: an order update the broker pushed (JSON text, e.g. a KiteTicker
                        order message that feed forwarded). It only lets the next poll_events
                        report sooner what the order book would show; reporting it again when the
                        book does is the adapter's to avoid. Default (paper): ignored.
    order_update_counts() what on_order_update did with its input, name -> count ({} by default).
    bound_calls(blocked) run every request to the broker inside `blocked(bound_s)`, bound_s the
                        longest that request may take (its timeouts): the stage's
                        StageRuntime.blocked, so that a stop waiting on a slow broker is not taken
                        for a hang. Default (paper, no request): nothing.
    close()             release sockets and files; idempotent.

Calls return as soon as the broker answered; acks and fills come back as events. A raised error
means exactly what its class says (common/errors.py). Statuses use OTrade's vocabulary
(orders/statemachine.py). Imports only numpy, the standard library, `common` and the state machine.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from orders import statemachine as sm

ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
# The statuses a broker may report for an order (a subset of the state machine's).
BROKER_STATUSES = (sm.ACCEPTED, sm.PARTIALLY_FILLED, sm.FILLED, sm.CANCEL_PENDING, sm.CANCELED,
                   sm.REJECTED)

CAP_GTT_OCO = "gtt_oco"       # broker-native two-leg OCO (Kite GTT two-leg, Upstox GTT MULTIPLE)
CAP_AUTOSLICE = "autoslice"   # broker slices above the freeze quantity itself
CAP_PARTIAL_FILLS = "partial_fills"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order as OTrade sends it. Prices are rupees (0 when unused), quantities are units.

    `after_seq` is the tick seq the order is placed at: the paper broker never fills it on that tick
    or an earlier one, which is what makes paper fills a pure function of the tick stream.
    """

    client_order_id: str
    instrument: int
    symbol: str
    exchange: str
    side: int               # +1 buy, -1 sell
    qty: int
    order_type: str         # MARKET | LIMIT | SL | SL-M
    price: float = 0.0      # LIMIT and SL limit price
    trigger_price: float = 0.0   # SL and SL-M
    product: str = "MIS"
    validity: str = "DAY"
    after_seq: int = 0


@dataclass(frozen=True, slots=True)
class BrokerAck:
    broker_order_id: str
    client_order_id: str
    status: str             # ACCEPTED | REJECTED | CANCELED | CANCEL_PENDING (...)
    reason: str = ""
    code: str = ""


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """The broker's record of one order (order book row, or an order-update event)."""

    broker_order_id: str
    client_order_id: str    # our id, from the broker's tag ("" for orders not placed by OTrade)
    instrument: int
    symbol: str
    side: int
    qty: int                # total quantity (after modifications)
    order_type: str
    price: float
    trigger_price: float
    status: str
    filled_qty: int
    avg_price: float
    reason: str = ""
    # A stop order the broker reports triggered (Kite "OPEN", Upstox "open" for an SL order; paper:
    # it triggered on a tick): the exit has begun at the broker, filled or not yet.
    triggered: bool = False
    # The tick it triggered on, where the broker knows it (paper: the tick's seq; live: 0). A
    # restarted engine settles that tick again, so the target's cancel is journaled where the
    # engine that never died journaled it (orders/engine.py `resolve_in_doubt`).
    trigger_seq: int = 0


@dataclass(frozen=True, slots=True)
class BrokerTrade:
    """One execution. `trade_id` is unique per broker day and becomes OTrade's fill id."""

    trade_id: str
    broker_order_id: str
    client_order_id: str
    instrument: int
    side: int
    qty: int
    price: float
    tick_seq: int = 0       # paper: the tick it filled on; live: 0 (the engine's current tick)
    ts_event_ns: int = 0    # when it executed (exchange/market clock), 0 when unknown


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    instrument: int
    symbol: str
    qty: int                # signed net quantity
    avg_price: float        # of the open quantity, 0 when flat
    realised_pnl_inr: float


class Broker(ABC):
    """See the module docstring for the contract of each method."""

    capabilities: frozenset = frozenset()
    # What the orders stage asks of a broker instead of its name (see the module docstring). The
    # defaults are a live broker's: a new adapter is polled, reconciled and waited for at a stop.
    reports_fills_async: bool = True
    pushes_order_updates: bool = True
    book_is_ours: bool = False

    @property
    def bad_rows(self) -> int:
        """live brokers: rows of ours skipped as malformed (orders/brokers/replies.py)."""
        return 0

    @abstractmethod
    def place(self, req: OrderRequest) -> BrokerAck: ...

    @abstractmethod
    def modify(self, broker_order_id: str, qty: int | None = None, price: float | None = None,
               trigger_price: float | None = None) -> BrokerAck: ...

    @abstractmethod
    def cancel(self, broker_order_id: str) -> BrokerAck: ...

    @abstractmethod
    def find_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...

    def find_by_client_ids(self, client_order_ids: Iterable[str]) -> dict[str, BrokerOrder | None]:
        """One `find_by_client_id` each (paper: a dictionary lookup); live brokers read their
        order book once for all of them."""
        return {coid: self.find_by_client_id(coid) for coid in client_order_ids}

    @abstractmethod
    def orders(self) -> list[BrokerOrder]: ...

    @abstractmethod
    def trades(self) -> list[BrokerTrade]: ...

    @abstractmethod
    def positions(self) -> list[BrokerPosition]: ...

    def on_ticks(self, ticks: np.ndarray, start: int, stop: int) -> int:
        """Live brokers match nothing locally: every tick is 'processed' at once."""
        return stop

    @abstractmethod
    def poll_events(self) -> list: ...

    def on_order_update(self, payload: str) -> None:
        """A pushed order update; brokers without a push channel (paper) ignore it."""

    def order_update_counts(self) -> dict[str, int]:
        return {}

    def bound_calls(self, blocked) -> None:
        """Paper sends no request: nothing to bound."""

    def close(self) -> None:
        """Nothing to release by default."""
