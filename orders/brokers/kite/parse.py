"""Pure functions at the Kite boundary: enums, IST timestamps, and response rows → OTrade records.

Kite speaks naive IST: "2021-05-31 09:16:39" strings in JSON, which the SDK turns into naive
`datetime`s for order and trade rows (only when the string is exactly 19 characters). Both forms
are accepted here and become epoch ns (UTC). Order statuses map onto OTrade's (orders/statemachine.py);
the transitional "... PENDING" / "... RECEIVED" states are still working orders, so they are ACCEPTED,
except CANCEL PENDING. An order row for an instrument that is not in the instrument table (placed by
hand) is returned as None: OTrade cannot act on it. A pushed order update (KiteTicker's order message,
or an HTTP postback) is an order-book row with a few more fields, so it parses through the same
`order_from_row`, and Kite's extra "UPDATE" status (a modification or a partial fill) is a working
order like any other. Imports only the standard library, orjson, `common.clock`, the state machine and
the broker records.
"""

import datetime as dt

import orjson

from common.clock import IST, NS_PER_S
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerPosition, BrokerTrade

SIDE_OF = {"BUY": 1, "SELL": -1}
TRANSACTION_OF = {1: "BUY", -1: "SELL"}
_FINAL_STATUS = {"COMPLETE": sm.FILLED, "CANCELLED": sm.CANCELED, "REJECTED": sm.REJECTED,
                 # An AMO/GTT-born order that the exchange let expire at the end of its validity.
                 "LAPSED": sm.CANCELED}
_PENDING_CANCEL = {"CANCEL PENDING"}
# Every other status (OPEN, TRIGGER PENDING, PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN PENDING,
# MODIFY VALIDATION PENDING, MODIFY PENDING, MODIFIED, AMO REQ RECEIVED, ...) is a working order.


def otrade_status(kite_status: str, filled_qty: int = 0) -> str:
    """OTrade's status for a Kite order status; a working order with fills is PARTIALLY_FILLED."""
    status = (kite_status or "").upper()
    if status in _FINAL_STATUS:
        return _FINAL_STATUS[status]
    if status in _PENDING_CANCEL:
        return sm.CANCEL_PENDING
    return sm.PARTIALLY_FILLED if filled_qty > 0 else sm.ACCEPTED


def kite_status(status: str, order_type: str, filled_qty: int) -> str:
    """The Kite status string for an OTrade status (the local server's side of the mapping)."""
    if status == sm.FILLED:
        return "COMPLETE"
    if status == sm.CANCELED:
        return "CANCELLED"
    if status == sm.REJECTED:
        return "REJECTED"
    if order_type in ("SL", "SL-M") and filled_qty == 0:
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
    if value.tzinfo is None:
        value = value.replace(tzinfo=IST)
    return int(value.timestamp()) * NS_PER_S + value.microsecond * 1000


def ns_to_ist(ts_ns: int) -> str:
    """The naive-IST string Kite writes for an epoch-ns instant."""
    return dt.datetime.fromtimestamp(ts_ns // NS_PER_S, tz=IST).strftime("%Y-%m-%d %H:%M:%S")


def client_id_of(row: dict) -> str:
    """Our client order id: the order's tag ("" for orders placed without one)."""
    tag = row.get("tag")
    if tag:
        return str(tag)
    tags = row.get("tags") or []
    return str(tags[0]) if tags and not str(tags[0]).startswith("autoslice") else ""


def instrument_of(row: dict, instruments) -> int:
    """Row index in the instrument table for a row's instrument_token, -1 if unknown."""
    try:
        return instruments.index_of_token(int(row.get("instrument_token") or 0))
    except KeyError:
        return -1


def order_from_row(row: dict, instruments) -> BrokerOrder | None:
    """One order-book row (GET /orders, /orders/{id}) as a BrokerOrder; None if not our instrument."""
    instrument = instrument_of(row, instruments)
    if instrument < 0:
        return None
    filled = int(row.get("filled_quantity") or 0)
    return BrokerOrder(
        broker_order_id=str(row["order_id"]), client_order_id=client_id_of(row),
        instrument=instrument, symbol=str(row.get("tradingsymbol") or ""),
        side=SIDE_OF.get(row.get("transaction_type"), 0), qty=int(row.get("quantity") or 0),
        order_type=str(row.get("order_type") or ""), price=float(row.get("price") or 0.0),
        trigger_price=float(row.get("trigger_price") or 0.0),
        status=otrade_status(row.get("status"), filled), filled_qty=filled,
        avg_price=float(row.get("average_price") or 0.0),
        reason=str(row.get("status_message") or ""))


def order_from_update(payload: str | bytes, instruments) -> BrokerOrder | None:
    """A pushed order update (the order object as JSON text) as a BrokerOrder; None when it is not
    a JSON object with an order_id and sane numbers, or not for one of our instruments."""
    try:
        row = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(row, dict) or not row.get("order_id"):
        return None
    try:
        return order_from_row(row, instruments)
    except (TypeError, ValueError, KeyError, IndexError):   # e.g. "quantity": "ten", "tags": {}
        return None


def trade_from_row(row: dict, instruments, client_id_of_order: dict) -> BrokerTrade | None:
    """One trade-book row (GET /trades) as a BrokerTrade; the client id comes from the order book."""
    instrument = instrument_of(row, instruments)
    if instrument < 0:
        return None
    order_id = str(row["order_id"])
    ts = ist_to_ns(row.get("exchange_timestamp")) or ist_to_ns(row.get("fill_timestamp"))
    return BrokerTrade(
        trade_id=str(row["trade_id"]), broker_order_id=order_id,
        client_order_id=client_id_of_order.get(order_id, ""), instrument=instrument,
        side=SIDE_OF.get(row.get("transaction_type"), 0), qty=int(row.get("quantity") or 0),
        price=float(row.get("average_price") or 0.0), ts_event_ns=ts)


def positions_from_data(data: dict, instruments, bucket: str = "day") -> list[BrokerPosition]:
    """GET /portfolio/positions → one BrokerPosition per instrument of the `day` bucket (what was
    traded today; `net` adds overnight carry that OTrade never traded). Rows of one instrument under
    different products are summed; realised P&L is the closed quantity at the day's average prices."""
    acc: dict[int, list] = {}
    for row in data.get(bucket) or []:
        instrument = instrument_of(row, instruments)
        if instrument < 0:
            continue
        entry = acc.setdefault(instrument, [str(row.get("tradingsymbol") or ""), [], 0.0])
        entry[1].append((int(row.get("quantity") or 0), float(row.get("average_price") or 0.0)))
        entry[2] += _realised(row)
    out = []
    for instrument, (symbol, legs, realised) in sorted(acc.items()):
        qty = sum(q for q, _ in legs)
        # The open quantity's average: over the product rows on the same side as the net position.
        same_side = [(abs(q), px) for q, px in legs if q * qty > 0]
        total = sum(q for q, _ in same_side)
        avg = sum(q * px for q, px in same_side) / total if qty and total else 0.0
        out.append(BrokerPosition(instrument, symbol, qty, avg, round(realised, 6)))
    return out


def _realised(row: dict) -> float:
    buy_qty = int(row.get("day_buy_quantity", row.get("buy_quantity")) or 0)
    sell_qty = int(row.get("day_sell_quantity", row.get("sell_quantity")) or 0)
    buy_px = float(row.get("day_buy_price", row.get("buy_price")) or 0.0)
    sell_px = float(row.get("day_sell_price", row.get("sell_price")) or 0.0)
    multiplier = float(row.get("multiplier") or 1)
    return min(buy_qty, sell_qty) * (sell_px - buy_px) * multiplier
