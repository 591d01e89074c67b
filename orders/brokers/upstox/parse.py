"""Pure functions at the Upstox boundary: statuses, IST timestamps, response rows → OTrade records.

Upstox statuses are lowercase strings ("open", "complete", "cancelled", "rejected", "trigger
pending", and transitional ones such as "put order req received", "validation pending", "modify
pending"; reference/brokers.md §2.4: only "complete" is documented, the full list is UNVERIFIED).
Anything not final and not a pending cancel is a working order. Instruments are named by their
instrument_key ("NSE_EQ|INE002A01018"), which is the instrument table's `broker_key`; a row for an
instrument outside the table (placed by hand) becomes None. Timestamps are naive IST
"YYYY-MM-DD HH:MM:SS" strings. Imports only the standard library, `common` and the broker records.
"""

import datetime as dt

from common.clock import IST, NS_PER_S
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerPosition, BrokerTrade

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


def upstox_status(status: str, order_type: str, filled_qty: int) -> str:
    """The Upstox status string for an OTrade status (the local server's side of the mapping)."""
    if status == sm.FILLED:
        return "complete"
    if status == sm.CANCELED:
        return "cancelled"
    if status == sm.REJECTED:
        return "rejected"
    if order_type in ("SL", "SL-M") and filled_qty == 0:
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


def _f(row: dict, key: str) -> float:
    return float(row.get(key) or 0.0)


def _i(row: dict, key: str) -> int:
    return int(row.get(key) or 0)


def order_from_row(row: dict, index_of_key: dict) -> BrokerOrder | None:
    """An order book row → BrokerOrder; None for an instrument outside the table."""
    instrument = index_of_key.get(row.get("instrument_token"), -1)
    if instrument < 0:
        return None
    filled = _i(row, "filled_quantity")
    return BrokerOrder(str(row["order_id"]), str(row.get("tag") or ""), instrument,
                       str(row.get("trading_symbol") or row.get("tradingsymbol") or ""),
                       SIDE_OF.get(row.get("transaction_type"), 0), _i(row, "quantity"),
                       str(row.get("order_type") or ""), _f(row, "price"), _f(row, "trigger_price"),
                       otrade_status(row.get("status"), filled), filled, _f(row, "average_price"),
                       str(row.get("status_message") or ""))


def trade_from_row(row: dict, index_of_key: dict, client_ids: dict) -> BrokerTrade | None:
    """A trade row → BrokerTrade (trades carry no tag: `client_ids` maps order id → our id)."""
    instrument = index_of_key.get(row.get("instrument_token"), -1)
    if instrument < 0:
        return None
    order_id = str(row["order_id"])
    return BrokerTrade(str(row["trade_id"]), order_id, client_ids.get(order_id, ""), instrument,
                       SIDE_OF.get(row.get("transaction_type"), 0), _i(row, "quantity"),
                       _f(row, "average_price"),
                       ts_event_ns=ist_to_ns(row.get("exchange_timestamp") or row.get("order_timestamp")))


def positions_from_rows(rows: list[dict], index_of_key: dict) -> list[BrokerPosition]:
    """Short-term positions → one BrokerPosition per instrument (products summed)."""
    merged: dict[int, list] = {}
    for row in rows:
        instrument = index_of_key.get(row.get("instrument_token"), -1)
        if instrument < 0:
            continue
        qty = _i(row, "quantity")
        symbol = str(row.get("trading_symbol") or row.get("tradingsymbol") or "")
        entry = merged.setdefault(instrument, [symbol, 0, 0.0, 0.0])
        entry[1] += qty
        entry[2] += qty * _f(row, "average_price")
        entry[3] += _f(row, "realised")
    return [BrokerPosition(i, s, q, (v / q) if q else 0.0, r) for i, (s, q, v, r) in merged.items()]
