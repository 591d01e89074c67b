"""Order status as an explicit transition table: what each event does to each status.

Statuses are OTrade's own vocabulary; every broker adapter maps its strings onto them (Kite "OPEN"
and "TRIGGER PENDING" are ACCEPTED, "COMPLETE" is FILLED, "CANCELLED" is CANCELED, ...)::

    NEW --submit--> SUBMITTING --accept--> ACCEPTED --fill--> PARTIALLY_FILLED --fill--> FILLED
                        |  \\--in_doubt--> IN_DOUBT (outcome unknown: look it up by client order id)
                        \\--reject--> REJECTED        ACCEPTED/PARTIALLY_FILLED --cancel_request-->
                                                      CANCEL_PENDING --cancel--> CANCELED

Real brokers deliver events out of order and twice, so the table also holds the odd-but-real
transitions, each with a comment. Anything not in the table is illegal: `transition` leaves the
status unchanged and says so, and the caller counts it; nothing here ever raises. A duplicate fill
never gets this far: the order book drops it by fill id before asking the table.

Imports only the standard library.
"""

NEW = "NEW"
SUBMITTING = "SUBMITTING"
ACCEPTED = "ACCEPTED"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCEL_PENDING = "CANCEL_PENDING"
CANCELED = "CANCELED"
REJECTED = "REJECTED"
IN_DOUBT = "IN_DOUBT"

STATUSES = (NEW, SUBMITTING, ACCEPTED, PARTIALLY_FILLED, FILLED, CANCEL_PENDING, CANCELED,
            REJECTED, IN_DOUBT)
# No event moves an order out of these (a late fill is recorded, but the status stays).
TERMINAL = frozenset((FILLED, CANCELED, REJECTED))
# The broker may still execute these: they count as open orders and as pending exposure.
WORKING = frozenset((SUBMITTING, ACCEPTED, PARTIALLY_FILLED, CANCEL_PENDING, IN_DOUBT))

# Events (triggers). FILL_PART leaves quantity open, FILL_FULL completes the order.
SUBMIT = "submit"
ACCEPT = "accept"
REJECT = "reject"
IN_DOUBT_EVENT = "in_doubt"
FILL_PART = "fill_part"
FILL_FULL = "fill_full"
CANCEL_REQUEST = "cancel_request"
CANCEL = "cancel"

TRANSITIONS: dict[tuple[str, str], str] = {
    # ---- the ordinary life of an order
    (NEW, SUBMIT): SUBMITTING,
    (SUBMITTING, ACCEPT): ACCEPTED,
    (SUBMITTING, REJECT): REJECTED,
    (SUBMITTING, IN_DOUBT_EVENT): IN_DOUBT,
    (ACCEPTED, FILL_PART): PARTIALLY_FILLED,
    (ACCEPTED, FILL_FULL): FILLED,
    (PARTIALLY_FILLED, FILL_PART): PARTIALLY_FILLED,
    (PARTIALLY_FILLED, FILL_FULL): FILLED,
    (ACCEPTED, CANCEL_REQUEST): CANCEL_PENDING,
    (PARTIALLY_FILLED, CANCEL_REQUEST): CANCEL_PENDING,
    (CANCEL_PENDING, CANCEL): CANCELED,
    (ACCEPTED, CANCEL): CANCELED,
    # ---- odd but real
    # A fill reported before the placement's own response (a postback racing the HTTP reply, or the
    # paper broker filling on the tick right after the ack was lost in a crash).
    (SUBMITTING, FILL_PART): PARTIALLY_FILLED,
    (SUBMITTING, FILL_FULL): FILLED,
    # A fill for an IN_DOUBT order proves the broker has it; an accept or a reject settles the
    # doubt.
    (IN_DOUBT, ACCEPT): ACCEPTED,
    (IN_DOUBT, REJECT): REJECTED,
    (IN_DOUBT, FILL_PART): PARTIALLY_FILLED,
    (IN_DOUBT, FILL_FULL): FILLED,
    # In doubt again (a lookup timed out): still in doubt.
    (IN_DOUBT, IN_DOUBT_EVENT): IN_DOUBT,
    # Sent again under the same client order id, after the lookup proved the broker never got it
    # (the only re-send there is: a placement is never retried blindly). From SUBMITTING: the
    # process died between journaling "about to send" and the broker call.
    (IN_DOUBT, SUBMIT): SUBMITTING,
    (SUBMITTING, SUBMIT): SUBMITTING,
    # A late reject: the broker said 200, then its RMS or the exchange refused (Kite reports this as
    # a REJECTED status in the order book after the placement call returned an order id).
    (ACCEPTED, REJECT): REJECTED,
    # A fill that arrives after a cancel request: the fill wins. A partial fill keeps the cancel of
    # the rest pending; a full fill makes the cancel moot.
    (CANCEL_PENDING, FILL_PART): CANCEL_PENDING,
    (CANCEL_PENDING, FILL_FULL): FILLED,
    # A cancel confirmation after a partial fill: the rest is canceled, the filled part stays
    # filled.
    (PARTIALLY_FILLED, CANCEL): CANCELED,
    # A cancel confirmation that arrives after the order filled completely (the exchange matched it
    # before the cancel reached it): nothing was canceled, the order stays FILLED.
    (FILLED, CANCEL): FILLED,
    # A fill reported after the cancel confirmation (the exchange matched before it canceled, the
    # trade report came later): the fill is recorded, the rest stays canceled. Kite shows exactly
    # this: status CANCELLED with filled_quantity > 0.
    (CANCELED, FILL_PART): CANCELED,
    (CANCELED, FILL_FULL): CANCELED,
    # Duplicates of a settling event (an ack repeated by the order-update stream, a second cancel
    # confirmation, a second reject): no change.
    (ACCEPTED, ACCEPT): ACCEPTED,
    (PARTIALLY_FILLED, ACCEPT): PARTIALLY_FILLED,
    (CANCEL_PENDING, ACCEPT): CANCEL_PENDING,
    (CANCEL_PENDING, CANCEL_REQUEST): CANCEL_PENDING,
    (CANCELED, CANCEL): CANCELED,
    (REJECTED, REJECT): REJECTED,
    # An ack delivered after the order's final report (order-update streams are not ordered with
    # the placement reply): the final status stands.
    (FILLED, ACCEPT): FILLED,
    (CANCELED, ACCEPT): CANCELED,
    # Canceling something the broker never confirmed having: the cancel request goes out (the broker
    # will answer "no such order" or cancel it), and its answer settles the status.
    (IN_DOUBT, CANCEL): CANCELED,
    (SUBMITTING, CANCEL): CANCELED,
}


def transition(status: str, event: str) -> tuple[str, bool]:
    """The status after `event`, and whether the transition is legal.

    An illegal transition returns the status unchanged and False; the caller counts it and moves on
    (a broker's odd report must never stop the orders loop).
    """
    new = TRANSITIONS.get((status, event))
    if new is None:
        return status, False
    return new, True


def fill_event(leaves_qty: int) -> str:
    """FILL_FULL when nothing is left open on the order after the fill, else FILL_PART."""
    return FILL_FULL if leaves_qty <= 0 else FILL_PART
