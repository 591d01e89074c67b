"""The local Upstox server's exchange: a PaperBroker (the fill model) seen through Upstox's formats.

The server (server.py) does HTTP; this class keeps the state and speaks Upstox's JSON rows.
The paper broker, its lock, the id numbering (paper "P000000042" is Upstox "260000000000042") and
the books are localvenue/localbook.py, shared with Kite. The product of each order lives in
memory and falls back to "I" after a reopen. Errors are `UpstoxError(http status, errorCode,
message)`, rendered by the server as Upstox's error envelope.

Order updates: `on_order_change(row)`, when set, hears every change Upstox's portfolio stream would
push (the venue wires it to the local feed server's `send_order_update`): unlike Kite, Upstox pushes
placements too, starting with the transitional "put order req received", then each fill, cancel,
modification and rejection, each as the order's order-book row. Rows are taken under the lock and
announced after it is released, so a callback that sends on a socket never stalls the HTTP threads
or the matching; two threads may announce out of order, as Upstox's own pushes can arrive, which
the client's diff absorbs (a final state stays final, a filled quantity never shrinks).
"""

from collections.abc import Callable

from localvenue.localbook import LocalBook
from orders import statemachine as sm
from orders.brokers.base import ORDER_TYPES, OrderRequest
from orders.brokers.upstox import parse

PRODUCTS = ("I", "D", "MTF")
INVALID_INPUT = "UDAPI100038"


class UpstoxError(Exception):
    def __init__(self, http_status: int, code: str, message: str):
        super().__init__(message)
        self.http_status, self.code, self.message = http_status, code, message


class LocalUpstoxExchange(LocalBook):
    """Upstox's local exchange: the parameters are LocalBook's (without a clock: the wall clock);
    instruments carry the instrument_key in broker_key."""

    ORDER_ID_BASE = 260_000_000_000_000      # paper "P000000042" is Upstox order "260000000000042"
    TRADE_ID_BASE = 70_000_000
    ns_to_ist = staticmethod(parse.ns_to_ist)

    def __init__(self, instruments, paper_journal: str, *, max_fill_qty_per_tick: int = 0,
                 slippage_ticks: int = 0):
        super().__init__(instruments, paper_journal, max_fill_qty_per_tick=max_fill_qty_per_tick,
                         slippage_ticks=slippage_ticks)
        self._by_key = {
            r["broker_key"].decode(): i for i, r in enumerate(self.rows) if r["broker_key"]
        }
        self._product: dict[str, str] = {}
        # callable(row: dict), see the module docstring
        self.on_order_change: Callable[[dict], None] | None = None
        self._changed: list[str] = []    # paper ids changed under the lock, announced after it

    # ---------------------------------------------------------------- orders

    def place(self, body: dict) -> dict:
        req, product = self._order_request(body)
        with self.lock:
            ack = self._paper_call("place", req)
            self._product[ack.broker_order_id] = product
            self._changed.append(ack.broker_order_id)
            received = self._received_row(ack.broker_order_id)
            rows = self._take_changes()
        self._announce(([received] if received else []) + rows)
        return {"order_ids": [self.wire_order_id(ack.broker_order_id)]}

    def modify(self, body: dict) -> dict:
        boid = self.paper_order_id(body.get("order_id"))
        with self.lock:
            current = self._paper_order(boid)
            if body.get("order_type") and body["order_type"] != current.order_type:
                raise UpstoxError(
                    400, INVALID_INPUT, "Changing the order type is not supported here"
                )
            price = float(body.get("price") or 0) or None
            trigger = float(body.get("trigger_price") or 0) or None
            qty = int(body["quantity"]) if body.get("quantity") else None
            self._paper_call("modify", boid, qty, price, trigger)
            self._changed.append(boid)
            rows = self._take_changes()
        self._announce(rows)
        return {"order_id": body["order_id"]}

    def cancel(self, order_id: str) -> dict:
        boid = self.paper_order_id(order_id)
        with self.lock:
            self._paper_order(boid)
            self._paper_call("cancel", boid)
            self._changed.append(boid)
            rows = self._take_changes()
        self._announce(rows)
        return {"order_id": order_id}

    def positions(self) -> list[dict]:
        with self.lock:
            return [self._position_row(p) for p in self.paper.positions()]

    def on_ticks(self, ticks) -> None:
        """Match `ticks` (TICK_DTYPE rows, seq increasing) against the working orders."""
        with self.lock:
            i, n = 0, len(ticks)
            while i < n:
                i = self.paper.on_ticks(ticks, i, n) + 1
            self._record_ticks(ticks)
            rows = self._take_changes()
        self._announce(rows)

    # ---------------------------------------------------------------- order updates

    def _take_changes(self) -> list[dict]:
        """Under the lock: the rows of the orders changed since the last call, each once, in the
        order of their first change (fills are the paper broker's events, the rest are noted where
        they happen). The paper broker's events are drained either way."""
        changed = self._changed + [ev.broker_order_id for ev in self.paper.poll_events()]
        self._changed = []
        if not changed or self.on_order_change is None:
            return []
        orders = {o.broker_order_id: o for o in self.paper.orders()}
        return [self._order_row(orders[boid]) for boid in dict.fromkeys(changed)]

    def _received_row(self, boid: str) -> dict | None:
        """Under the lock: the first update Upstox pushes for a new order, before the exchange has
        it."""
        if self.on_order_change is None:
            return None
        order = self._paper_order(boid)
        return self._order_row(order) | {"status": "put order req received", "filled_quantity": 0,
                                         "average_price": 0.0, "pending_quantity": order.qty,
                                         "exchange_order_id": "", "status_message": None}

    def _announce(self, rows: list[dict]) -> None:
        callback = self.on_order_change
        if callback is None:
            return
        for row in rows:
            callback(row)

    # ---------------------------------------------------------------- rendering

    def _order_request(self, body: dict) -> tuple[OrderRequest, str]:
        for field in ("instrument_token", "transaction_type", "quantity", "product", "order_type",
                      "validity"):
            if body.get(field) in (None, ""):
                raise UpstoxError(400, INVALID_INPUT, f"{field} is required")
        key, order_type, product = body["instrument_token"], body["order_type"], body["product"]
        if key not in self._by_key:
            raise UpstoxError(400, "UDAPI1004", f"Invalid instrument_token {key!r}")
        if order_type not in ORDER_TYPES or product not in PRODUCTS \
                or body["transaction_type"] not in parse.SIDE_OF:
            raise UpstoxError(400, INVALID_INPUT, "Invalid order_type, product or transaction_type")
        i = self._by_key[key]
        req = OrderRequest(
            str(body.get("tag") or ""),
            i,
            self.rows[i]["symbol"].decode(),
            self.rows[i]["exchange"].decode(),
            parse.SIDE_OF[body["transaction_type"]],
            int(body["quantity"]),
            order_type,
            price=float(body.get("price") or 0),
            trigger_price=float(body.get("trigger_price") or 0),
            validity=body["validity"],
            after_seq=self._last_seq,
        )
        return req, product

    def _unknown_order(self, message: str) -> UpstoxError:
        return UpstoxError(400, "UDAPI100010", message)

    def _refused(self, action: str, message: str) -> UpstoxError:
        return UpstoxError(400, "UDAPI100040" if action == "cancel" else INVALID_INPUT, message)

    def _order_row(self, o) -> dict:
        row, oid, working = self.rows[o.instrument], self.wire_order_id(o.broker_order_id), \
            o.status in sm.WORKING
        ts = self.now_ist()
        return {
            "exchange": row["exchange"].decode(),
            "product": self._product.get(o.broker_order_id, "I"),
            "price": o.price,
            "quantity": o.qty,
            "status": parse.upstox_status(o.status, o.order_type, o.filled_qty, o.triggered),
            "guid": None,
            "tag": o.client_order_id or None,
            "instrument_token": row["broker_key"].decode(),
            "placed_by": "LOCAL",
            "tradingsymbol": o.symbol,
            "trading_symbol": o.symbol,
            "order_type": o.order_type,
            "validity": "DAY",
            "trigger_price": o.trigger_price,
            "disclosed_quantity": 0,
            "transaction_type": parse.TRANSACTION_OF[o.side],
            "average_price": round(o.avg_price, 6),
            "filled_quantity": o.filled_qty,
            "pending_quantity": o.qty - o.filled_qty if working else 0,
            "status_message": o.reason or None,
            "status_message_raw": o.reason or None,
            "exchange_order_id": None if o.status == sm.REJECTED else oid,
            "parent_order_id": None,
            "order_id": oid,
            "variety": "SIMPLE",
            "order_timestamp": ts,
            "exchange_timestamp": ts,
            "is_amo": False,
            "order_request_id": "1",
            "order_ref_id": f"local-{oid}",
        }

    def _trade_row(self, t, n: int) -> dict:
        row, oid = self.rows[t.instrument], self.wire_order_id(t.broker_order_id)
        when = parse.ns_to_ist(t.ts_event_ns) if t.ts_event_ns else self.now_ist()
        return {
            "exchange": row["exchange"].decode(),
            "product": self._product.get(t.broker_order_id, "I"),
            "tradingsymbol": row["symbol"].decode(),
            "trading_symbol": row["symbol"].decode(),
            "instrument_token": row["broker_key"].decode(),
            "order_type": "",
            "transaction_type": parse.TRANSACTION_OF[t.side],
            "quantity": t.qty,
            "exchange_order_id": oid,
            "order_id": oid,
            "exchange_timestamp": when,
            "average_price": t.price,
            "trade_id": self.trade_id(t, n),
            "order_ref_id": f"local-{oid}",
            "order_timestamp": when,
        }

    def _position_row(self, p) -> dict:
        row = self.rows[p.instrument]
        bq, bv, sq, sv = self._day_totals(p.instrument)
        last, unrealised = self._unrealised(p)
        return {"exchange": row["exchange"].decode(), "multiplier": 1.0, "value": sv - bv,
                "pnl": p.realised_pnl_inr + unrealised, "product": "I",
                "instrument_token": row["broker_key"].decode(), "average_price": p.avg_price,
                "buy_value": bv, "overnight_quantity": 0, "day_buy_value": bv,
                "day_buy_price": bv / bq if bq else 0.0, "day_buy_quantity": bq,
                "day_sell_value": sv, "day_sell_price": sv / sq if sq else 0.0,
                "day_sell_quantity": sq, "quantity": p.qty, "last_price": last,
                "unrealised": unrealised, "realised": p.realised_pnl_inr, "sell_value": sv,
                "trading_symbol": p.symbol, "tradingsymbol": p.symbol, "close_price": 0.0,
                "buy_price": bv / bq if bq else 0.0, "sell_price": sv / sq if sq else 0.0}


ORDER_ID_BASE = LocalUpstoxExchange.ORDER_ID_BASE   # tests map venue journal ids to Upstox's
