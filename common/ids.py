"""Deterministic identifiers: the same tick stream always produces the same ids.

This is what makes a restart safe. A replayed tick raises an intent with the same `intent_id`, which
orders has already seen; an order that orders sent just before it died carries the same
`client_order_id` it would send again, so orders looks it up in the broker's order book (the id
rides in Kite's and Upstox's `tag`) instead of placing it twice.

Client order id layout (at most 20 characters, [A-Z0-9] only, because Kite's `tag` is at most 20
alphanumeric characters)::

    E 7KQ2M4XJ5RB3ZC6WT2H      n == 0: role letter + 19 base32 chars (95 bits of blake2b)
    E X 7KQ2M4XJ5RB3ZC6WT2     n >= 1: role letter + "X" (a slice / sub-order) + 18 chars (90 bits)

The hash covers (intent_id, role, n), so every leg and every slice of every intent has its own id;
90 bits make a collision among even 10^7 ids a day about a 4e-14 chance. The role letter is the
only readable part: E entry, S stop, T target, Q square-off, F flatten. Imports only the standard
library.
"""

import base64
import hashlib

# Order roles, as `OrderSubmitting.role` spells them, and the letter that leads their client id.
ROLE_PREFIX = {
    "ENTRY": "E",
    "STOP": "S",
    "TARGET": "T",
    "SQUAREOFF": "Q",
    "FLATTEN": "F",
}
ROLE_OF_PREFIX = {letter: role for role, letter in ROLE_PREFIX.items()}
SLICE_MARK = "X"
CLIENT_ORDER_ID_LEN = 20

# Domain separation: these hashes can never coincide with a blake2b used for anything else.
_PERSON = b"otrade.coid.v1"


def intent_id(strategy: str, instrument: int, tick_seq: int) -> str:
    """The id of the intent a strategy raised on one tick of one instrument: "ma_x:3:1042".

    At most one intent per (strategy, instrument, tick); a strategy needing two must use two names.
    """
    return f"{strategy}:{instrument}:{tick_seq}"


def client_order_id(intent_id: str, role: str, n: int = 0) -> str:
    """The broker-visible id of one order of an intent (see the module docstring for the layout).

    Parameters
    ----------
    intent_id : the intent the order belongs to (`intent_id()`).
    role : "ENTRY", "STOP", "TARGET", "SQUAREOFF" or "FLATTEN" (or its letter, "E" ... "F").
    n : 0 for the order itself; 1, 2, ... for its slices (freeze-quantity splits) or re-placements.

    Raises
    ------
    ValueError
        For an unknown role or a negative n.
    """
    letter = ROLE_PREFIX.get(role) or (role if role in ROLE_OF_PREFIX else "")
    if not letter:
        raise ValueError(f"unknown order role {role!r}; expected one of {sorted(ROLE_PREFIX)}")
    if n < 0:
        raise ValueError(f"order number must be >= 0, got {n}")
    prefix = letter if n == 0 else letter + SLICE_MARK
    digest = hashlib.blake2b(
        f"{intent_id}\x1f{ROLE_OF_PREFIX[letter]}\x1f{n}".encode(), digest_size=15, person=_PERSON
    ).digest()
    # 15 bytes -> exactly 24 base32 characters, no padding; A-Z and 2-7 are all alphanumeric.
    body = base64.b32encode(digest).decode("ascii")
    return prefix + body[: CLIENT_ORDER_ID_LEN - len(prefix)]


def role_of(client_order_id: str) -> str:
    """The role encoded in a client order id ("ENTRY", ...), or "" if it is not one of ours.

    Used when reconciling the broker's order book, which also lists orders placed by hand.
    """
    if len(client_order_id) != CLIENT_ORDER_ID_LEN or not client_order_id.isalnum():
        return ""
    return ROLE_OF_PREFIX.get(client_order_id[0], "")


def fill_id(client_order_id: str, n: int) -> str:
    """The id of the n-th fill (1, 2, ...) of an order, for brokers (paper) that have no trade id.

    Positions applies fills idempotently by this id, so it must be a pure function of the order
    and the fill's position in that order's fill sequence.
    """
    return f"{client_order_id}.{n}"
