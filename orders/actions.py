"""The actions the planners ask for (orders/brackets.py, orders/sweep.py) and the gateway carries
out (orders/gateway.py): place an order, modify one, cancel one. Each placement's client order id is
a function of (intent, role, n), so a restarted engine asks for the same ids the dead one did.

Imports only the standard library and `common.ids`.
"""

from dataclasses import dataclass
from functools import lru_cache

from common.ids import client_order_id


@dataclass(frozen=True, slots=True)
class Place:
    role: str
    intent_id: str
    n: int                 # 0: the order itself; 1, 2, ...: slices / further legs
    bracket_id: str
    strategy: str
    instrument: int
    side: int
    qty: int
    order_type: str
    price: float = 0.0
    trigger_price: float = 0.0

    def sized(self, n: int, qty: int) -> "Place":
        """This placement as order `n` of `qty` (dataclasses.replace, without its introspection)."""
        return Place(self.role, self.intent_id, n, self.bracket_id, self.strategy, self.instrument,
                     self.side, qty, self.order_type, self.price, self.trigger_price)


@dataclass(frozen=True, slots=True)
class Modify:
    client_order_id: str
    qty: int               # the order's new total quantity (filled part included)
    price: float = -1.0    # new price / trigger; -1: unchanged
    trigger_price: float = -1.0


@dataclass(frozen=True, slots=True)
class Cancel:
    client_order_id: str
    reason: str


@lru_cache(maxsize=1 << 16)
def coid_of(intent_id: str, role: str, n: int) -> str:
    """`common.ids.client_order_id`, memoised: the planner asks for the same ids on every tick."""
    return client_order_id(intent_id, role, n)


def coid_of_place(p: Place) -> str:
    return coid_of(p.intent_id, p.role, p.n)


def entries_last(actions: list) -> tuple[list, list]:
    """(every action but the entry placements, the entry placements), each in plan order: the
    engine acts on the first before any of the second, so exits get the order-rate throttle's room
    before entries do (orders/engine.py `_plan_and_execute`)."""
    if not actions:
        return actions, actions
    protective: list = []
    entries: list = []
    for a in actions:
        (entries if type(a) is Place and a.role == "ENTRY" else protective).append(a)
    return protective, entries
