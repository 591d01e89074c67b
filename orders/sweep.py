"""The sweep: at square-off time, or when trading is flattened (the kill switch, `ctl flatten`),
cancel every working entry and leg, then close each instrument's net position with MARKET orders
(orders/engine.py runs it instead of the brackets' plans while it lasts).

Imports only the order book, the actions and the brackets' slicing rule.
"""

from orders import statemachine as sm
from orders.actions import Cancel, Place
from orders.brackets import slice_sizes
from orders.orderbook import CLOSE_ROLES, OrderBook

CLOSE_RETRY_NS = 1_000_000_000     # a rejected close is tried again after a second of market time


def plan_sweep(book: OrderBook, positions: dict[int, int], role: str, freeze_qty, now_ns: int,
               reason: str) -> tuple[list, int]:
    """Cancel every working entry and leg, then close each position that has none left working.

    Waiting for the cancels to be confirmed before closing is what keeps a stop that fills during
    the cancel from doubling the close into a reversed position. A close already working counts
    towards its position: only what it does not cover is sent (the rest of a sliced close whose
    first slices went out before a crash, with the ids the whole close would have had).
    `positions` maps instrument -> signed net quantity (non-zero only). Returns the actions and the
    market time of a close retry it waits for (0 when none).
    """
    actions: list = []
    busy = set()
    for o in book.working():
        if o.role in CLOSE_ROLES:
            continue
        busy.add(o.instrument)
        if o.status != sm.CANCEL_PENDING and o.broker_order_id:
            actions.append(Cancel(o.client_order_id, reason))
    wake = 0
    for k, qty in positions.items():
        if k in busy:
            continue
        side = -1 if qty > 0 else 1
        closes = book.closes_on(k)
        working = [o for o in closes if o.working]
        if working:
            intent = working[-1].intent_id
            left = abs(qty) - sum(o.leaves for o in working if o.side == side)
            first = sum(1 for o in closes if o.intent_id == intent) + 1
            sizes = [
                (first + i, q) for i, (_, q) in enumerate(slice_sizes(left, int(freeze_qty[k])))
            ]
        else:
            retry_at = max((o.settled_ns for o in closes), default=0) + CLOSE_RETRY_NS
            if closes and now_ns < retry_at:
                wake = retry_at if not wake else min(wake, retry_at)
                continue
            intent, left = f"{role}:{k}:{len({o.intent_id for o in closes})}", abs(qty)
            sizes = slice_sizes(left, int(freeze_qty[k]))
        if left > 0:
            actions += [Place(role, intent, n, "", "", k, side, q, "MARKET") for n, q in sizes]
    return actions, wake
