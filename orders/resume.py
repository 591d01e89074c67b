"""Leaving a flatten: trading is ACTIVE again — by the operator's `ctl resume`, or by itself on the
next IST day after the daily loss limit's halt — only once the flatten is done, and a refusal names
what is left and what the trader can do about each.

A flatten (`ctl flatten`, the daily loss limit) closes every bracket: their legs are never placed
again. Until its closes are done and every other order of ours is final, leaving it would leave a
position with no close and no stop — one open now, or one that an order still working (its cancel
not confirmed yet) or in doubt (an entry the broker may have) opens later. So it is done when no
position is open and no order of ours is working or in doubt (orders/statemachine.py WORKING).

An order whose row in the broker's book cannot be read stays in doubt for good (orders/recovery.py
UNREADABLE). The refusal says what to do with it: an entry, once the trader has checked it at the
broker (canceled it there if it is working, closed there what it filled), is released by `ctl adopt`
(orders/reconciler.py), and the flatten can be done; an exit is not released — whether it filled
decides whether its position is still open, and a close sent on a guess can close it twice — so
the flatten, and trading, wait until the broker's book shows it (the refusal says to leave it be:
working, it still protects the position).

Imports only the order statuses.
"""

from orders import statemachine as sm

SHOWN = 5           # what is left, named in a refusal (and how many more)
SIDES = {1: "BUY", -1: "SELL"}


def flatten_left(positions: dict[int, int], working: list, unreadable: set[str],
                 symbols: list[str]) -> list[str]:
    """What a flatten still waits for, one phrase each, positions first (empty once it is done).

    positions : instrument -> net quantity, open ones. working : the book's working orders (in
    doubt included). unreadable : client ids whose row the broker's book cannot show.
    """
    left = [f"{symbols[k]} position {qty:+d} open" for k, qty in sorted(positions.items())]
    for o in working:
        side = SIDES.get(o.side, o.side)
        what = f"order {o.client_order_id} ({o.role} {side} {o.qty} {o.symbol})"
        left.append(f"{what} {_why(o, o.client_order_id in unreadable)}")
    return left


def _why(order, unreadable: bool) -> str:
    if order.status not in (sm.SUBMITTING, sm.IN_DOUBT):
        if order.role in ("FLATTEN", "SQUAREOFF"):
            return "working: the close, not filled yet"
        return "working: its cancel is not confirmed yet"
    if not unreadable:
        return "in doubt: looked up at the broker again every second"
    if order.role == "ENTRY":
        return ("in doubt, the broker's book cannot show it: check it at the broker (cancel it "
                "there if it is working, close there what it filled), then `ctl adopt` releases it")
    return ("in doubt, the broker's book cannot show it: whether it filled decides whether "
            f"{order.symbol} is still open, so the flatten does not close {order.symbol} while it "
            "is unknown (a close on a guess could close it twice); leave it as it is at the broker "
            "(working, it still protects the position): trading stays HALTED until the broker's "
            "book shows it, and `ctl adopt` does not release an exit")


def refusal(left: list[str], reason: str) -> str:
    """The HALTED reason journaled when a resume (`reason`) meets a flatten not done."""
    more = f"; and {len(left) - SHOWN} more" if len(left) > SHOWN else ""
    return (f"resume refused: the flatten is not done: {'; '.join(left[:SHOWN])}{more}; "
            f"resume once flat ({reason})")
