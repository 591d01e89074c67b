"""The local Kite server's GTT book: single and two-leg (OCO) triggers, in Kite's JSON shape.

A two-leg GTT has trigger_values [lower, upper] and two orders: the first fires when the last price
falls to or below the lower trigger, the second when it rises to or above the upper one; firing one
ends the GTT (status "triggered"), which is the OCO. A single GTT fires when the price reaches its
trigger from the side the last price was on at creation. Firing places the leg's LIMIT order (the
exchange, exchange.py, does that) and records its result the way Kite shows it. In memory only.
"""

import json

from localvenue.kite.protocol import KiteError

FIRST_GTT_ID = 100_001
LEG_FIELDS = ("transaction_type", "quantity", "order_type", "product", "price")


class GttBook:
    def __init__(self, by_symbol: dict, rows):
        self._by_symbol = by_symbol
        self._rows = rows
        self.triggers: dict[int, dict] = {}
        self._instrument_of: dict[int, int] = {}

    def has_active(self) -> bool:
        return any(g["status"] == "active" for g in self.triggers.values())

    def place(self, form: dict, now: str) -> dict:
        kind, condition, orders = form.get("type"), _json(form, "condition"), _json(form, "orders")
        key = (condition.get("exchange"), condition.get("tradingsymbol"))
        if key not in self._by_symbol:
            raise KiteError(400, "InputException", "Invalid `tradingsymbol`.")
        values = [float(v) for v in condition.get("trigger_values") or []]
        legs = {"single": 1, "two-leg": 2}.get(kind or "")
        if legs is None or len(values) != legs or len(orders) != legs:
            raise KiteError(400, "InputException", "Invalid GTT type, trigger_values or orders.")
        if legs == 2 and not values[0] < float(condition.get("last_price", 0)) < values[1]:
            raise KiteError(400, "InputException",
                            "Trigger values must be on either side of the last price.")
        for leg in orders:
            if any(f not in leg for f in LEG_FIELDS) or leg["order_type"] != "LIMIT":
                raise KiteError(400, "InputException", "Each GTT order needs a LIMIT price.")
        instrument = self._by_symbol[key]
        trigger_id = FIRST_GTT_ID + len(self.triggers)
        token = int(self._rows[instrument]["token"])
        self.triggers[trigger_id] = {
            "id": trigger_id, "user_id": "LOCAL", "parent_trigger": None, "type": kind,
            "created_at": now, "updated_at": now, "expires_at": None, "status": "active",
            "condition": {**condition, "trigger_values": values, "instrument_token": token},
            "orders": [{**leg, "exchange": key[0], "tradingsymbol": key[1], "result": None}
                       for leg in orders], "meta": {}}
        self._instrument_of[trigger_id] = instrument
        return {"trigger_id": trigger_id}

    def get(self, trigger_id: int) -> dict:
        if trigger_id not in self.triggers:
            raise KiteError(404, "InputException", "GTT not found.")
        return self.triggers[trigger_id]

    def delete(self, trigger_id: int, now: str) -> dict:
        gtt = self.get(trigger_id)
        if gtt["status"] != "active":
            raise KiteError(400, "InputException", f"GTT is {gtt['status']}; it cannot be deleted.")
        gtt["status"], gtt["updated_at"] = "deleted", now
        return {"trigger_id": trigger_id}

    def crossed(self, instrument: int, price: float) -> list[tuple[int, dict]]:
        """(trigger id, order leg) of every active GTT on `instrument` that `price` fires."""
        out = []
        for trigger_id, gtt in self.triggers.items():
            if gtt["status"] != "active" or self._instrument_of[trigger_id] != instrument:
                continue
            values = gtt["condition"]["trigger_values"]
            if gtt["type"] == "two-leg":
                leg = 0 if price <= values[0] else 1 if price >= values[1] else -1
            else:
                from_below = float(gtt["condition"].get("last_price", 0)) < values[0]
                leg = 0 if (price >= values[0] if from_below else price <= values[0]) else -1
            if leg >= 0:
                out.append((trigger_id, gtt["orders"][leg]))
        return out

    def fired(self, trigger_id: int, leg: dict, order_id: str, rejection: str, now: str) -> None:
        gtt = self.triggers[trigger_id]
        gtt["status"], gtt["updated_at"] = "triggered", now
        ok = bool(order_id) and not rejection
        leg["result"] = {
            "account_id": "LOCAL",
            "exchange": leg["exchange"],
            "tradingsymbol": leg["tradingsymbol"],
            "validity": "DAY",
            "product": leg["product"],
            "order_type": "LIMIT",
            "transaction_type": leg["transaction_type"],
            "quantity": leg["quantity"],
            "price": leg["price"],
            "meta": json.dumps({"app_id": 0, "gtt": trigger_id}),
            "timestamp": now,
            "triggered_at": leg["price"],
            "order_result": {
                "status": "success" if ok else "failed",
                "order_id": order_id,
                "rejection_reason": rejection,
            },
        }


def _json(form: dict, key: str):
    try:
        return json.loads(form.get(key) or "null") or {}
    except ValueError:
        raise KiteError(400, "InputException", f"Invalid `{key}` JSON.") from None
