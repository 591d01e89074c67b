"""The local Kite server's exchange: a PaperBroker (the fill model) seen through Kite's formats.

The server (server.py) does HTTP; this class keeps the state and speaks Kite's JSON rows. The
paper broker, its lock, the id numbering (paper "P000000042" is Kite 250000000000042) and the books
are localvenue/localbook.py, shared with Upstox. What the paper book does not keep (product,
variety, validity, market protection, placement time) lives in memory here and falls back to MIS /
regular / DAY after a reopen; GTTs live in memory only. Errors are `KiteError(http status, error
type, message)` (protocol.py), rendered by the server as Kite's error envelope.

Order updates: `on_order_change(row)`, when set, hears every change Kite would push on its ticker
socket (a fill, a cancel, a modification, a placement the exchange rejected; as on Kite, not an
accepted placement), each as the order's current order-book row, after the lock is released (so a
callback that sends on a socket never stalls the HTTP threads or the matching under the lock).
"""

import time
from collections.abc import Callable

from common.errors import BrokerRejected
from localvenue.localbook import LocalBook
from localvenue.kite.gtt import GttBook
from localvenue.kite.protocol import KiteError
from orders import statemachine as sm
from orders.brokers.base import ORDER_TYPES, OrderRequest
from orders.brokers.kite import parse

PRODUCTS = ("MIS", "CNC", "NRML", "MTF")
NO_PROTECTION = ("Market orders without market protection are not allowed via API. "
                 "Please set market protection or use a Limit order.")


class LocalExchange(LocalBook):
    """Kite's local exchange: the parameters are LocalBook's."""

    ORDER_ID_BASE = 250_000_000_000_000      # paper "P000000042" is Kite order 250000000000042
    TRADE_ID_BASE = 90_000_000
    ns_to_ist = staticmethod(parse.ns_to_ist)

    def __init__(self, instruments, paper_journal: str, *, max_fill_qty_per_tick: int = 0,
                 slippage_ticks: int = 0, clock=time.time_ns):
        super().__init__(instruments, paper_journal, max_fill_qty_per_tick=max_fill_qty_per_tick,
                         slippage_ticks=slippage_ticks, clock=clock)
        self._by_symbol = {(r["exchange"].decode(), r["symbol"].decode()): i
                           for i, r in enumerate(self.rows)}
        self.gtt = GttBook(self._by_symbol, self.rows)
        # callable(row: dict), see the module docstring
        self.on_order_change: Callable[[dict], None] | None = None
        self._changed: list[str] = []    # paper ids changed under the lock, announced after it
        self._meta: dict[str, dict] = {}

    # ---------------------------------------------------------------- orders

    def place(self, variety: str, form: dict) -> dict:
        if variety != "regular":
            raise KiteError(400, "InputException", f"Variety {variety!r} is not supported here.")
        req, meta = self._order_request(form)
        with self.lock:
            ack = self._paper_call("place", req)
            self._meta[ack.broker_order_id] = meta | {"ts": self.now_ist()}
            if ack.status == sm.REJECTED:
                self._changed.append(ack.broker_order_id)
            rows = self._take_changes()
        self._announce(rows)
        return {"order_id": self.wire_order_id(ack.broker_order_id)}

    def modify(self, variety: str, order_id: str, form: dict) -> dict:
        boid = self.paper_order_id(order_id)
        qty, price, trigger = (_number(form, k, int if k == "quantity" else float)
                               for k in ("quantity", "price", "trigger_price"))
        with self.lock:
            current = self._paper_order(boid)
            if form.get("order_type") and form["order_type"] != current.order_type:
                raise KiteError(
                    400, "InputException", "Changing the order type is not supported here."
                )
            self._paper_call("modify", boid, qty, price, trigger)
            self._meta.setdefault(boid, {})["modified"] = True
            self._changed.append(boid)
            rows = self._take_changes()
        self._announce(rows)
        return {"order_id": order_id}

    def cancel(self, variety: str, order_id: str) -> dict:
        boid = self.paper_order_id(order_id)
        with self.lock:
            self._paper_order(boid)
            self._paper_call("cancel", boid)
            self._changed.append(boid)
            rows = self._take_changes()
        self._announce(rows)
        return {"order_id": order_id}

    def order_history(self, order_id: str) -> list[dict]:
        with self.lock:
            return [self._order_row(self._paper_order(self.paper_order_id(order_id)))]

    def positions(self) -> dict:
        with self.lock:
            rows = [self._position_row(p) for p in self.paper.positions()]
        return {"net": rows, "day": [dict(r) for r in rows]}

    # ---------------------------------------------------------------- GTT

    def place_gtt(self, form: dict) -> dict:
        with self.lock:
            return self.gtt.place(form, self.now_ist())

    def gtts(self) -> list[dict]:
        with self.lock:
            return list(self.gtt.triggers.values())

    def get_gtt(self, trigger_id: int) -> dict:
        with self.lock:
            return self.gtt.get(trigger_id)

    def delete_gtt(self, trigger_id: int) -> dict:
        with self.lock:
            return self.gtt.delete(trigger_id, self.now_ist())

    # ---------------------------------------------------------------- ticks

    def on_ticks(self, ticks) -> None:
        """Match `ticks` (TICK_DTYPE rows, seq increasing) against the working orders and GTTs."""
        with self.lock:
            i, n = 0, len(ticks)
            while i < n:
                # With live GTTs, go tick by tick so a fired GTT's order meets only later ticks.
                stop = i + 1 if self.gtt.has_active() else n
                if stop == i + 1:
                    self._fire_gtts(ticks[i])
                j = self.paper.on_ticks(ticks, i, stop)
                i = j + 1 if j < stop else stop
            self._record_ticks(ticks)
            rows = self._take_changes()
        self._announce(rows)

    def _fire_gtts(self, tick) -> None:
        for trigger_id, leg in self.gtt.crossed(int(tick["instrument"]), float(tick["price"])):
            req = OrderRequest(
                "",
                int(tick["instrument"]),
                leg["tradingsymbol"],
                leg["exchange"],
                parse.SIDE_OF[leg["transaction_type"]],
                int(leg["quantity"]),
                "LIMIT",
                price=float(leg["price"]),
                product=leg["product"],
                after_seq=int(tick["seq"]),
            )
            try:
                ack = self.paper.place(req)
                self._meta[ack.broker_order_id] = {"product": leg["product"], "ts": self.now_ist()}
                self.gtt.fired(trigger_id, leg, self.wire_order_id(ack.broker_order_id), ack.reason,
                               parse.ns_to_ist(self._now_ns()))
            except BrokerRejected as e:
                self.gtt.fired(trigger_id, leg, "", str(e), parse.ns_to_ist(self._now_ns()))

    # ---------------------------------------------------------------- order updates

    def _take_changes(self) -> list[dict]:
        """Under the lock: the rows of the orders changed since the last call, each once, in the
        order of their first change (fills are the paper broker's events, the rest are noted where
        they happen)."""
        changed = self._changed + [ev.broker_order_id for ev in self.paper.poll_events()]
        self._changed = []
        if not changed or self.on_order_change is None:
            return []
        orders = {o.broker_order_id: o for o in self.paper.orders()}
        return [self._order_row(orders[boid]) for boid in dict.fromkeys(changed)]

    def _announce(self, rows: list[dict]) -> None:
        callback = self.on_order_change
        if callback is None:
            return
        for row in rows:
            callback(row)

    # ---------------------------------------------------------------- rendering

    def _order_request(self, form: dict) -> tuple[OrderRequest, dict]:
        for field in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product",
                      "order_type"):
            if not form.get(field):
                raise KiteError(400, "InputException", f"Missing `{field}`.")
        key = (form["exchange"], form["tradingsymbol"])
        if key not in self._by_symbol:
            raise KiteError(400, "InputException", "Invalid `tradingsymbol`.")
        order_type, product, tag = form["order_type"], form["product"], form.get("tag", "")
        if order_type not in ORDER_TYPES or product not in PRODUCTS:
            raise KiteError(400, "InputException", "Invalid `order_type` or `product`.")
        if form["transaction_type"] not in parse.SIDE_OF:
            raise KiteError(400, "InputException", "Invalid `transaction_type`.")
        if len(tag) > 20:
            raise KiteError(400, "InputException", "Tag length should be at most 20 characters.")
        if order_type in ("MARKET", "SL-M") and "market_protection" not in form:
            raise KiteError(400, "InputException", NO_PROTECTION)
        req = OrderRequest(tag, self._by_symbol[key], key[1], key[0],
                           parse.SIDE_OF[form["transaction_type"]], _number(form, "quantity", int),
                           order_type, price=_number(form, "price", float) or 0.0,
                           trigger_price=_number(form, "trigger_price", float) or 0.0,
                           product=product, validity=form.get("validity") or "DAY",
                           after_seq=self._last_seq)
        meta = {"product": product, "variety": "regular", "validity": req.validity,
                "market_protection": _number(form, "market_protection", float) or 0}
        return req, meta

    def _unknown_order(self, message: str) -> KiteError:
        return KiteError(400, "InputException", f"{message}.")     # Kite's messages end in a period

    def _refused(self, action: str, message: str) -> KiteError:
        return KiteError(400, "InputException", message)

    def _order_row(self, o) -> dict:
        meta, row = self._meta.get(o.broker_order_id, {}), self.rows[o.instrument]
        oid, working = self.wire_order_id(o.broker_order_id), o.status in sm.WORKING
        ts = meta.get("ts", "")
        return {
            "placed_by": "LOCAL",
            "order_id": oid,
            "exchange_order_id": None if o.status == sm.REJECTED else oid,
            "parent_order_id": None,
            "status": parse.kite_status(o.status, o.order_type, o.filled_qty, o.triggered),
            "status_message": o.reason or None,
            "status_message_raw": o.reason or None,
            "order_timestamp": ts,
            "exchange_update_timestamp": ts,
            "exchange_timestamp": ts or None,
            "variety": meta.get("variety", "regular"),
            "modified": bool(meta.get("modified")),
            "exchange": row["exchange"].decode(),
            "tradingsymbol": o.symbol,
            "instrument_token": int(row["token"]),
            "order_type": o.order_type,
            "transaction_type": parse.TRANSACTION_OF[o.side],
            "validity": meta.get("validity", "DAY"),
            "validity_ttl": 0,
            "product": meta.get("product", "MIS"),
            "quantity": o.qty,
            "disclosed_quantity": 0,
            "price": o.price,
            "trigger_price": o.trigger_price,
            "average_price": round(o.avg_price, 6),
            "filled_quantity": o.filled_qty,
            "pending_quantity": o.qty - o.filled_qty if working else 0,
            "cancelled_quantity": o.qty - o.filled_qty if o.status == sm.CANCELED else 0,
            "market_protection": meta.get("market_protection", 0),
            "meta": {},
            "tag": o.client_order_id or None,
            "tags": [o.client_order_id] if o.client_order_id else [],
            "guid": f"local-{oid}",
        }

    def _trade_row(self, t, n: int) -> dict:
        row, oid = self.rows[t.instrument], self.wire_order_id(t.broker_order_id)
        when = parse.ns_to_ist(t.ts_event_ns) if t.ts_event_ns else self.now_ist()
        return {"trade_id": self.trade_id(t, n),
                "order_id": oid, "exchange": row["exchange"].decode(),
                "tradingsymbol": row["symbol"].decode(), "instrument_token": int(row["token"]),
                "product": self._meta.get(t.broker_order_id, {}).get("product", "MIS"),
                "average_price": t.price, "quantity": t.qty, "exchange_order_id": oid,
                "transaction_type": parse.TRANSACTION_OF[t.side], "fill_timestamp": when,
                "order_timestamp": when[11:], "exchange_timestamp": when}

    def _position_row(self, p) -> dict:
        row = self.rows[p.instrument]
        bq, bv, sq, sv = self._day_totals(p.instrument)
        last, unrealised = self._unrealised(p)
        side = {"buy_quantity": bq, "buy_price": bv / bq if bq else 0, "buy_value": bv,
                "sell_quantity": sq, "sell_price": sv / sq if sq else 0, "sell_value": sv}
        m2m = {"buy_m2m": bv, "sell_m2m": sv}
        return {"tradingsymbol": p.symbol, "exchange": row["exchange"].decode(),
                "instrument_token": int(row["token"]), "product": "MIS", "quantity": p.qty,
                "overnight_quantity": 0, "multiplier": 1, "average_price": p.avg_price,
                "close_price": 0, "last_price": last, "value": sv - bv,
                "pnl": p.realised_pnl_inr + unrealised, "m2m": p.realised_pnl_inr + unrealised,
                "unrealised": unrealised, "realised": p.realised_pnl_inr, **side, **m2m,
                **{f"day_{k}": v for k, v in side.items()}}


def _number(form: dict, key: str, kind):
    value = form.get(key)
    if value in (None, ""):
        return None
    try:
        return kind(value)
    except ValueError:
        raise KiteError(400, "InputException", f"Invalid `{key}`.") from None
