"""Sizing a bracket's exit legs to the quantity they must cover: the cancels, modifies and new legs
that make a list of working legs add up to `want` at the template's prices (orders/brackets.py plans
with them). Shrinks the newest legs first, grows the last one while it stays under the cap, then
places new legs.

Imports only the order book's statuses and the actions.
"""

from collections.abc import Callable

from orders import statemachine as sm
from orders.actions import Cancel, Modify, Place
from orders.orderbook import Order


def is_refused(o: Order) -> bool:
    """Rejected by the broker or exchange. A FATAL rejection (our token was refused) says nothing
    about the leg: it is placed again as it was once the session works, never turned into a MARKET
    exit or given up on."""
    return o.status == sm.REJECTED and o.reject_code != "FATAL"


# The legs a resize counts on: working, no cancel asked for yet.
_LIVE = sm.WORKING - {sm.CANCEL_PENDING}


def live_legs(legs: list[Order]) -> list[Order]:
    """The legs a resize counts on (working, no cancel asked for), in order."""
    return [o for o in legs if o.status in _LIVE]


def leaves(live: list[Order]) -> int:
    """What the live legs still cover (a plain loop: it runs on every plan of every leg)."""
    have = 0
    for o in live:
        have += o.qty - o.filled_qty                      # its leaves: it is working
    return have


def resize(legs: list[Order], want: int, cap: int, template: Place) -> list:
    """Cancels, modifies and new legs that make `legs` cover `want` at the template's prices."""
    return resize_live(live_legs(legs), want, cap, template)


def resize_lazily(legs: list[Order], want: int, cap: int, order_type: str, price: float,
                  trigger: float, template: Callable[[], Place]) -> list:
    """`resize(legs, want, cap, template())`, the template built only when a leg is to be placed or
    resized. On the usual plan the legs already cover `want` and are at most re-priced (to
    `order_type`, `price`, `trigger`, the template's), and a Place, a frozen dataclass, costs ~2 µs
    to build on every plan of every touched bracket."""
    live = live_legs(legs)
    if leaves(live) == want:
        return reprice(live, order_type, price, trigger)
    return resize_live(live, want, cap, template())


def resize_live(live: list[Order], want: int, cap: int, template: Place) -> list:
    """`resize` of legs already filtered by `live_legs`."""
    have = leaves(live)
    if have == want:
        return reprice(live, template.order_type, template.price, template.trigger_price)
    qty = {o.client_order_id: o.qty for o in live}        # each live leg's total qty to be
    actions: list = []
    excess = have - want
    for o in reversed(live):                              # shrink the newest legs first
        if excess <= 0:
            break
        left = o.qty - o.filled_qty
        cut = min(excess, left)
        excess -= cut
        if cut == left:
            actions.append(Cancel(o.client_order_id, "nothing left to cover (OCO)"))
            del qty[o.client_order_id]
        elif o.broker_order_id:
            qty[o.client_order_id] = o.qty - cut
    need = max(0, want - have)
    last = live[-1] if live else None
    if need > 0 and last is not None and modifiable(last):
        grow = need if cap <= 0 else min(need, cap - last.qty)
        if grow > 0:
            qty[last.client_order_id] = last.qty + grow
            need -= grow
    for o in live:
        if o.client_order_id in qty and modifiable(o):
            modify = modify_to(o, qty[o.client_order_id], template)
            if modify is not None:
                actions.append(modify)
    n = template.n
    while need > 0:
        q = need if cap <= 0 else min(need, cap)
        actions.append(template.sized(n, q))
        need -= q
        n += 1
    return actions


def reprice(live: list[Order], order_type: str, price: float, trigger: float) -> list:
    """`resize` of live legs that already cover what they must (the usual re-plan of a bracket
    whose legs rest): no cancel, no growth, no new leg; at most a re-price of each leg at its own
    quantity. Takes the template's prices, not the template: the planner then need not build one
    (a frozen dataclass, ~2 us) on every plan."""
    actions: list = []
    for o in live:
        if o.broker_order_id and o.status != sm.IN_DOUBT:     # modifiable(o)
            modify = _modify(o, o.qty, order_type, price, trigger)
            if modify is not None:
                actions.append(modify)
    return actions


def modifiable(o: Order) -> bool:
    return bool(o.broker_order_id) and o.status != sm.IN_DOUBT


def modify_to(o: Order, qty: int, template: Place) -> Modify | None:
    """A Modify bringing `o` to `qty` and, for a leg of the template's type, its prices."""
    return _modify(o, qty, template.order_type, template.price, template.trigger_price)


def _modify(o: Order, qty: int, order_type: str, price: float, trigger: float) -> Modify | None:
    """`modify_to` a template of this order type and prices."""
    new_price = new_trigger = -1.0
    if o.order_type == order_type and order_type != "MARKET":
        if o.price != price:
            new_price = price
        if o.trigger_price != trigger:
            new_trigger = trigger
    if qty == o.qty and new_price < 0 and new_trigger < 0:
        return None
    return Modify(o.client_order_id, qty, new_price, new_trigger)
