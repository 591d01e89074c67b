"""Pure functions at the Kite boundary: enums, IST timestamps, and response rows → OTrade records.

Kite speaks naive IST: "2021-05-31 09:16:39" strings in JSON, which the SDK turns into naive
`datetime`s for order and trade rows (only when the string is exactly 19 characters). Both forms
are accepted here and become epoch ns (UTC). Order statuses map onto OTrade's
(orders/statemachine.py); the transitional "... PENDING" / "... RECEIVED" states are still working
orders, so they are ACCEPTED, except CANCEL PENDING. An order row for an instrument that is not in
the instrument table (placed by hand) is returned as None: OTrade cannot act on it. A pushed order
update (KiteTicker's order message, or an HTTP postback) is an order-book row with a few more
fields, so it parses through the same `order_from_row`, and Kite's extra "UPDATE" status (a
modification or a partial fill) is a working order like any other.

Rows are validated before they are read: `KiteOrderRow`, `KiteTradeRow` and `KitePositionRow` are
the fields OTrade reads, typed (numbers may come as numeric strings, as the SDK tolerates), and
`order_from_row` & co. raise `replies.BadRow` naming the field at fault instead of a ValueError,
KeyError or AttributeError from deep inside; the adapter counts and skips such a row
(orders/brokers/live.py). `tag_of(row)` reads only the tag, for the "is it ours" test that comes
first. Imports only the standard library, msgspec, orjson, `common`, the state machine, the broker
records and orders/brokers/replies.py.
"""

import datetime as dt
from typing import Annotated, Any

import msgspec
import orjson

from common.clock import IST, NS_PER_S
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerPosition, BrokerTrade
from orders.brokers.replies import BadRow, decode

SIDE_OF = {"BUY": 1, "SELL": -1}
TRANSACTION_OF = {1: "BUY", -1: "SELL"}
_FINAL_STATUS = {"COMPLETE": sm.FILLED, "CANCELLED": sm.CANCELED, "REJECTED": sm.REJECTED,
                 # An AMO/GTT-born order that the exchange let expire at the end of its validity.
                 "LAPSED": sm.CANCELED}
_PENDING_CANCEL = {"CANCEL PENDING"}
# Every other status (OPEN, TRIGGER PENDING, PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN
# PENDING, MODIFY VALIDATION PENDING, MODIFY PENDING, MODIFIED, AMO REQ RECEIVED, ...) is a working
# order.


def otrade_status(kite_status: str, filled_qty: int = 0) -> str:
    """OTrade's status for a Kite order status; a working order with fills is PARTIALLY_FILLED."""
    status = (kite_status or "").upper()
    if status in _FINAL_STATUS:
        return _FINAL_STATUS[status]
    if status in _PENDING_CANCEL:
        return sm.CANCEL_PENDING
    return sm.PARTIALLY_FILLED if filled_qty > 0 else sm.ACCEPTED


def stop_triggered(kite_status: str, order_type: str) -> bool:
    """A stop order past its trigger: Kite shows an SL / SL-M "TRIGGER PENDING" until the market
    reaches the trigger, then "OPEN" (a limit order waiting to fill, or filling)."""
    return order_type in ("SL", "SL-M") and (kite_status or "").upper() == "OPEN"


def kite_status(status: str, order_type: str, filled_qty: int, triggered: bool = False) -> str:
    """The Kite status string for an OTrade status (the local server's side of the mapping)."""
    if status == sm.FILLED:
        return "COMPLETE"
    if status == sm.CANCELED:
        return "CANCELLED"
    if status == sm.REJECTED:
        return "REJECTED"
    if order_type in ("SL", "SL-M") and filled_qty == 0 and not triggered:
        return "TRIGGER PENDING"
    return "OPEN"


def ist_to_ns(value) -> int:
    """Epoch ns of a naive-IST "YYYY-MM-DD HH:MM:SS" string or naive datetime; 0 when absent."""
    if not value:
        return 0
    if isinstance(value, str):
        try:
            value = dt.datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return 0      # e.g. a trade's bare "09:16:39" order_timestamp: no date, no instant
    if not isinstance(value, dt.datetime):
        return 0
    if value.tzinfo is None:
        value = value.replace(tzinfo=IST)
    return int(value.timestamp()) * NS_PER_S + value.microsecond * 1000


def ns_to_ist(ts_ns: int) -> str:
    """The naive-IST string Kite writes for an epoch-ns instant."""
    return dt.datetime.fromtimestamp(ts_ns // NS_PER_S, tz=IST).strftime("%Y-%m-%d %H:%M:%S")


Qty = Annotated[int, msgspec.Meta(ge=0)]
Price = Annotated[float, msgspec.Meta(ge=0)]
Id = str | int                   # Kite sends ids as strings; an int is the same id
When = Any    # a naive IST string or the SDK's naive datetime; ist_to_ns reads anything else as 0


class KiteOrderRow(msgspec.Struct):
    """The fields of an order-book row (GET /orders, /orders/{id}, a pushed update) OTrade reads.
    None stands for a field Kite left null; the parsers read it as 0 / ""."""

    order_id: Id
    instrument_token: int | None = None
    tag: str | None = None
    tags: list[str] | None = None
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


class KiteTradeRow(msgspec.Struct):
    """The fields of a trade-book row (GET /trades) OTrade reads."""

    trade_id: Id
    order_id: Id
    instrument_token: int | None = None
    transaction_type: str | None = None
    quantity: Qty | None = None
    average_price: Price | None = None
    exchange_timestamp: When | None = None
    fill_timestamp: When | None = None


class KitePositionRow(msgspec.Struct):
    """The fields of a position row (GET /portfolio/positions, either bucket) OTrade reads."""

    instrument_token: int | None = None
    tradingsymbol: str | None = None
    quantity: int | None = None
    average_price: float | None = None
    day_buy_quantity: Qty | None = None
    day_sell_quantity: Qty | None = None
    day_buy_price: float | None = None
    day_sell_price: float | None = None
    buy_quantity: Qty | None = None
    sell_quantity: Qty | None = None
    buy_price: float | None = None
    sell_price: float | None = None
    multiplier: float | None = None


def tag_of(row) -> str:
    """The row's tag as sent, without reading anything else ("" when it has none or is no object).
    The "is it ours" test (replies.is_client_id) runs on this before the row is decoded."""
    if not isinstance(row, dict):
        return ""
    tag = row.get("tag")
    if isinstance(tag, str) and tag:
        return tag
    tags = row.get("tags")
    first = tags[0] if isinstance(tags, list) and tags else ""
    return first if isinstance(first, str) and not first.startswith("autoslice") else ""


def order_id_of(row) -> str:
    """A row's order_id as text, "" when it has none that is an id (nothing else read)."""
    oid = row.get("order_id") if isinstance(row, dict) else None
    return str(oid) if isinstance(oid, (str, int)) and not isinstance(oid, bool) else ""


def client_id_of(row: dict) -> str:
    """Our client order id: the order's tag ("" for orders placed without one)."""
    return tag_of(row)


def instrument_of(row, instruments) -> int:
    """Row index in the instrument table for a (typed) row's instrument_token, -1 if unknown."""
    token = row.get("instrument_token") if isinstance(row, dict) else row.instrument_token
    try:
        return instruments.index_of_token(int(token or 0))
    except KeyError:
        return -1


def order_from_row(row: dict, instruments) -> BrokerOrder | None:
    """One order-book row (GET /orders, /orders/{id}) as a BrokerOrder; None if not our instrument.
    Raises BadRow for a row that does not validate."""
    r = decode(row, KiteOrderRow)
    if not str(r.order_id):
        raise BadRow("order_id", "empty order id")
    instrument = instrument_of(r, instruments)
    if instrument < 0:
        return None
    filled = r.filled_quantity or 0
    return BrokerOrder(
        broker_order_id=str(r.order_id), client_order_id=tag_of(row),
        instrument=instrument, symbol=r.tradingsymbol or "",
        side=SIDE_OF.get(r.transaction_type, 0), qty=r.quantity or 0,
        order_type=r.order_type or "", price=r.price or 0.0, trigger_price=r.trigger_price or 0.0,
        status=otrade_status(r.status, filled), filled_qty=filled, avg_price=r.average_price or 0.0,
        reason=r.status_message or "", triggered=stop_triggered(r.status, r.order_type or ""))


def order_from_update(payload: str | bytes, instruments) -> BrokerOrder | None:
    """A pushed order update (the order object as JSON text) as a BrokerOrder; None when it is not
    a JSON object with an order_id that validates, or not for one of our instruments."""
    try:
        row = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(row, dict) or not row.get("order_id"):
        return None
    try:
        return order_from_row(row, instruments)
    except BadRow:   # e.g. "quantity": "ten", "tags": {}
        return None


def trade_from_row(row: dict, instruments, client_id_of_order: dict) -> BrokerTrade | None:
    """One trade-book row (GET /trades) as a BrokerTrade; the client id comes from the order book.
    Raises BadRow for a row that does not validate."""
    r = decode(row, KiteTradeRow)
    instrument = instrument_of(r, instruments)
    if instrument < 0:
        return None
    order_id = str(r.order_id)
    ts = ist_to_ns(r.exchange_timestamp) or ist_to_ns(r.fill_timestamp)
    return BrokerTrade(
        trade_id=str(r.trade_id), broker_order_id=order_id,
        client_order_id=client_id_of_order.get(order_id, ""), instrument=instrument,
        side=SIDE_OF.get(r.transaction_type, 0), qty=r.quantity or 0,
        price=r.average_price or 0.0, ts_event_ns=ts)


def positions_from_data(
    data: dict, instruments, bucket: str = "day", on_bad=None
) -> list[BrokerPosition]:
    """GET /portfolio/positions → one BrokerPosition per instrument of the `day` bucket (what was
    traded today; `net` adds overnight carry that OTrade never traded). Rows of one instrument under
    different products are summed; realised P&L is the closed quantity at the day's average prices.
    A row that does not validate is skipped and handed to `on_bad(BadRow)` (raised without one)."""
    acc: dict[int, list] = {}
    rows = data.get(bucket) or []
    for row in rows if isinstance(rows, list) else [rows]:
        try:
            r = decode(row, KitePositionRow)
        except BadRow as e:
            if on_bad is None:
                raise
            on_bad(e)
            continue
        instrument = instrument_of(r, instruments)
        if instrument < 0:
            continue
        entry = acc.setdefault(instrument, [r.tradingsymbol or "", [], 0.0])
        entry[1].append((r.quantity or 0, r.average_price or 0.0))
        entry[2] += _realised(r)
    out = []
    for instrument, (symbol, legs, realised) in sorted(acc.items()):
        qty = sum(q for q, _ in legs)
        # The open quantity's average: over the product rows on the same side as the net position.
        same_side = [(abs(q), px) for q, px in legs if q * qty > 0]
        total = sum(q for q, _ in same_side)
        avg = sum(q * px for q, px in same_side) / total if qty and total else 0.0
        out.append(BrokerPosition(instrument, symbol, qty, avg, round(realised, 6)))
    return out


def _realised(r: KitePositionRow) -> float:
    def pick(day, whole):       # the day_ field when Kite sent it, else the plain one
        return day if day is not None else whole
    buy_qty = pick(r.day_buy_quantity, r.buy_quantity) or 0
    sell_qty = pick(r.day_sell_quantity, r.sell_quantity) or 0
    buy_px = pick(r.day_buy_price, r.buy_price) or 0.0
    sell_px = pick(r.day_sell_price, r.sell_price) or 0.0
    return min(buy_qty, sell_qty) * (sell_px - buy_px) * (r.multiplier or 1)
