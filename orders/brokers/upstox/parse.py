"""Pure functions at the Upstox boundary: statuses, IST timestamps, response rows → OTrade records.

Upstox statuses are lowercase strings ("open", "complete", "cancelled", "rejected", "trigger
pending", and transitional ones such as "put order req received", "validation pending", "modify
pending"; reference/brokers.md §2.4: only "complete" is documented, the full list is UNVERIFIED).
Anything not final and not a pending cancel is a working order. Instruments are named by their
instrument_key ("NSE_EQ|INE002A01018"), which is the instrument table's `broker_key`; a row for an
instrument outside the table (placed by hand) becomes None. Timestamps are naive IST
"YYYY-MM-DD HH:MM:SS" strings.

Rows are validated before they are read (`UpstoxOrderRow`, `UpstoxTradeRow`, `UpstoxPositionRow`:
the fields OTrade reads, typed); a row that does not validate raises `replies.BadRow` naming the
field, which the adapter counts and skips (orders/brokers/live.py). `tag_of(row)` reads only the
tag. Imports only the standard library, msgspec, `common`, the broker records and
orders/brokers/replies.py.
"""

import datetime as dt
from typing import Annotated

import msgspec
import orjson

from common.clock import IST, NS_PER_S
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerPosition, BrokerTrade
from orders.brokers.replies import BadRow, decode

SIDE_OF = {"BUY": 1, "SELL": -1}
TRANSACTION_OF = {1: "BUY", -1: "SELL"}
_FINAL = {"complete": sm.FILLED, "cancelled": sm.CANCELED, "rejected": sm.REJECTED,
          "cancelled after market order": sm.CANCELED, "lapsed": sm.CANCELED}
_CANCEL_PENDING = {"cancel pending", "cancellation requested"}


def otrade_status(status: str, filled_qty: int = 0) -> str:
    s = (status or "").strip().lower()
    if s in _FINAL:
        return _FINAL[s]
    if s in _CANCEL_PENDING:
        return sm.CANCEL_PENDING
    return sm.PARTIALLY_FILLED if filled_qty > 0 else sm.ACCEPTED


def stop_triggered(status: str, order_type: str) -> bool:
    """A stop order past its trigger: an SL / SL-M is "trigger pending" until the market reaches
    the trigger, then "open" (a limit order waiting to fill, or filling)."""
    return order_type in ("SL", "SL-M") and (status or "").strip().lower() == "open"


def upstox_status(status: str, order_type: str, filled_qty: int, triggered: bool = False) -> str:
    """The Upstox status string for an OTrade status (the local server's side of the mapping)."""
    if status == sm.FILLED:
        return "complete"
    if status == sm.CANCELED:
        return "cancelled"
    if status == sm.REJECTED:
        return "rejected"
    if order_type in ("SL", "SL-M") and filled_qty == 0 and not triggered:
        return "trigger pending"
    return "open"


def ist_to_ns(value) -> int:
    """Epoch ns of a naive-IST "YYYY-MM-DD HH:MM:SS" string; 0 when absent or unreadable."""
    if not value:
        return 0
    try:
        when = dt.datetime.strptime(str(value)[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        return 0
    return int(when.timestamp()) * NS_PER_S


def ns_to_ist(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns // NS_PER_S, tz=IST).strftime("%Y-%m-%d %H:%M:%S")


Qty = Annotated[int, msgspec.Meta(ge=0)]
Price = Annotated[float, msgspec.Meta(ge=0)]
Id = str | int


class UpstoxOrderRow(msgspec.Struct):
    """The fields of an order-book row (GET /v2/order/retrieve-all) OTrade reads; None is a null."""

    order_id: Id
    instrument_token: str | None = None         # the instrument_key, "NSE_EQ|INE..."
    tag: str | None = None
    trading_symbol: str | None = None
    tradingsymbol: str | None = None
    transaction_type: str | None = None
    quantity: Qty | None = None
    order_type: str | None = None
    price: Price | None = None
    trigger_price: Price | None = None
    status: str | None = None
    filled_quantity: Qty | None = None
    average_price: Price | None = None
    status_message: str | None = None


class UpstoxTradeRow(msgspec.Struct):
    """The fields of a trade row (GET /v2/order/trades/get-trades-for-day) OTrade reads."""

    trade_id: Id
    order_id: Id
    instrument_token: str | None = None
    transaction_type: str | None = None
    quantity: Qty | None = None
    average_price: Price | None = None
    exchange_timestamp: str | None = None
    order_timestamp: str | None = None


class UpstoxPositionRow(msgspec.Struct):
    """The fields of a short-term position row OTrade reads."""

    instrument_token: str | None = None
    trading_symbol: str | None = None
    tradingsymbol: str | None = None
    quantity: int | None = None
    average_price: float | None = None
    realised: float | None = None


def tag_of(row) -> str:
    """The row's tag, without reading anything else ("" when none, or the row is no object)."""
    tag = row.get("tag") if isinstance(row, dict) else None
    return tag if isinstance(tag, str) else ""


def order_id_of(row) -> str:
    """A row's order_id as text, "" when it has none that is an id (nothing else read)."""
    oid = row.get("order_id") if isinstance(row, dict) else None
    return str(oid) if isinstance(oid, (str, int)) and not isinstance(oid, bool) else ""


def order_from_row(row: dict, index_of_key: dict) -> BrokerOrder | None:
    """An order book row → BrokerOrder; None for an instrument outside the table. BadRow when the
    row does not validate."""
    r = decode(row, UpstoxOrderRow)
    if not str(r.order_id):
        raise BadRow("order_id", "empty order id")
    instrument = index_of_key.get(r.instrument_token, -1)
    if instrument < 0:
        return None
    filled = r.filled_quantity or 0
    return BrokerOrder(
        str(r.order_id),
        r.tag or "",
        instrument,
        r.trading_symbol or r.tradingsymbol or "",
        SIDE_OF.get(r.transaction_type, 0),
        r.quantity or 0,
        r.order_type or "",
        r.price or 0.0,
        r.trigger_price or 0.0,
        otrade_status(r.status, filled),
        filled,
        r.average_price or 0.0,
        r.status_message or "",
        triggered=stop_triggered(r.status, r.order_type or ""),
    )


def order_from_update(payload: str | bytes, index_of_key: dict) -> BrokerOrder | None:
    """An order update the portfolio stream pushed (JSON text: the order-book row plus update_type,
    user_id and instrument_key) as a BrokerOrder; None when it is not a JSON object with
    update_type "order" and an order_id that validates, or not for one of our instruments."""
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(msg, dict) or msg.get("update_type") != "order" or not order_id_of(msg):
        return None
    if not msg.get("instrument_token"):   # both are sent; instrument_key is the newer spelling
        msg["instrument_token"] = msg.get("instrument_key")
    try:
        return order_from_row(msg, index_of_key)
    except BadRow:   # e.g. "quantity": "ten", "filled_quantity": -1
        return None


def trade_from_row(row: dict, index_of_key: dict, client_ids: dict) -> BrokerTrade | None:
    """A trade row → BrokerTrade (trades carry no tag: `client_ids` maps order id → our id). BadRow
    when the row does not validate."""
    r = decode(row, UpstoxTradeRow)
    instrument = index_of_key.get(r.instrument_token, -1)
    if instrument < 0:
        return None
    order_id = str(r.order_id)
    return BrokerTrade(str(r.trade_id), order_id, client_ids.get(order_id, ""), instrument,
                       SIDE_OF.get(r.transaction_type, 0), r.quantity or 0, r.average_price or 0.0,
                       ts_event_ns=ist_to_ns(r.exchange_timestamp or r.order_timestamp))


def positions_from_rows(rows: list, index_of_key: dict, on_bad=None) -> list[BrokerPosition]:
    """Short-term positions → one BrokerPosition per instrument (products summed). A row that does
    not validate is skipped and handed to `on_bad(BadRow)` (raised without one)."""
    merged: dict[int, list] = {}
    for row in rows:
        try:
            r = decode(row, UpstoxPositionRow)
        except BadRow as e:
            if on_bad is None:
                raise
            on_bad(e)
            continue
        instrument = index_of_key.get(r.instrument_token, -1)
        if instrument < 0:
            continue
        qty = r.quantity or 0
        entry = merged.setdefault(
            instrument, [r.trading_symbol or r.tradingsymbol or "", 0, 0.0, 0.0]
        )
        entry[1] += qty
        entry[2] += qty * (r.average_price or 0.0)
        entry[3] += r.realised or 0.0
    return [BrokerPosition(i, s, q, (v / q) if q else 0.0, r) for i, (s, q, v, r) in merged.items()]
