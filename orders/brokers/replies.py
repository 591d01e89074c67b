"""Broker replies → typed rows, with validation: what both live adapters do before parsing a row.

A broker's order book lists every order of the account, other apps' and hand-placed ones included,
and any row can be malformed (a quantity "ten", no order_id, a token "abc", a row that is a string).
One such row used to raise out of the parser on every poll and again at every recovery: a crash
loop. Here:

- a whole reply of the wrong shape (`data: null`, a string where a list or an object belongs) is a
  BrokerRetryable (code "BadResponse") that names the endpoint and what came: the next read asks
  again;
- a row that is not ours (its tag cannot be one of our client order ids, common/ids.py) is ignored
  before anything but its tag is read;
- a row of ours that fails validation (`decode`, msgspec structs declared in each broker's
  parse.py) is counted in `RowChecker.bad_rows`, logged once per (endpoint, field), and skipped.

Imports only msgspec, the standard library and `common`.
"""

import re

import msgspec

from common.errors import BrokerRetryable
from common.ids import CLIENT_ORDER_ID_LEN
from common.log import get_logger

_FIELD = re.compile(r"at `\$\.?([^`]*)`|required field `([^`]*)`")


class BadRow(ValueError):
    """A row of ours that cannot be read: `field` is the first field at fault ("" for the row)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field or 'row'}: {problem}")
        self.field, self.problem = field, problem


def decode(row, struct_type):
    """`row` (a dict from the broker's JSON) as `struct_type`; BadRow naming the field otherwise.
    Lax about numbers sent as strings ("10" → 10), as the brokers' own SDKs are."""
    if not isinstance(row, dict):
        raise BadRow("", f"a {type(row).__name__}, not an object")
    try:
        return msgspec.convert(row, struct_type, strict=False)
    except msgspec.ValidationError as e:
        match = _FIELD.search(str(e))
        raise BadRow((match.group(1) or match.group(2)) if match else "", str(e)) from None


def is_client_id(tag) -> bool:
    """Whether a tag can be one of our client order ids: what check_order lets us send (1-20
    alphanumeric characters; common/ids.py makes them 20, tests use shorter ones)."""
    return (
        isinstance(tag, str)
        and 0 < len(tag) <= CLIENT_ORDER_ID_LEN
        and tag.isascii()
        and tag.isalnum()
    )


def rows_of(data, broker: str, endpoint: str) -> list:
    """The rows of a list reply; BrokerRetryable when the reply is not a list."""
    if not isinstance(data, list):
        raise BrokerRetryable(f"{broker} {endpoint}: expected a list of rows, got {_shape(data)}; "
                              "the reply is malformed, reading again later", code="BadResponse")
    return data


def object_of(data, broker: str, endpoint: str) -> dict:
    """An object reply; BrokerRetryable when it is not one."""
    if not isinstance(data, dict):
        raise BrokerRetryable(f"{broker} {endpoint}: expected an object, got {_shape(data)}; "
                              "the reply is malformed", code="BadResponse")
    return data


def _shape(data) -> str:
    return "null" if data is None else f"a {type(data).__name__}"


class RowChecker:
    """Counts and logs the bad rows of one adapter (`bad_rows`, and per endpoint in
    `bad_by_endpoint`)."""

    def __init__(self, broker: str):
        self.broker = broker
        self.bad_rows = 0
        self.bad_by_endpoint: dict[str, int] = {}
        self._logged: set[tuple[str, str]] = set()
        self._log = get_logger("orders")

    def bad(self, endpoint: str, error: BadRow, order_id: str = "") -> None:
        """Count a skipped row; log the first one per (endpoint, field), never the row itself."""
        self.bad_rows += 1
        self.bad_by_endpoint[endpoint] = self.bad_by_endpoint.get(endpoint, 0) + 1
        key = (endpoint, error.field)
        if key not in self._logged:
            self._logged.add(key)
            self._log.warning(
                "broker row skipped: it does not validate",
                broker=self.broker,
                endpoint=endpoint,
                field=error.field or "(row)",
                problem=error.problem[:200],
                order_id=order_id[:40],
            )
