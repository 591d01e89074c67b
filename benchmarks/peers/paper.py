"""The peers' order side: a plain pre-trade check, an in-process paper broker, a position book.

What a developer puts behind a strategy before a real broker: one `if` on quantity and notional (the
limits are OTrade's defaults, config/schema.py RiskConfig), `place_order` as a function call that
records the order and fills it at once at the tick's price, and a book that applies fills and marks
positions to market on every tick. No journal, no dedupe, no bracket legs: that is the point of the
comparison, and the report says so.
"""

from __future__ import annotations

import itertools

MAX_ORDER_QTY = 100
MAX_ORDER_NOTIONAL_INR = 200_000.0


def risk_ok(qty: int, price: float) -> bool:
    return 0 < qty <= MAX_ORDER_QTY and qty * price <= MAX_ORDER_NOTIONAL_INR


class PaperBroker:
    """Accepts every order and fills it in full at the price it was given (the last traded
    price)."""

    def __init__(self):
        self.orders: list[tuple] = []
        self._ids = itertools.count(1)

    def place_order(self, token: int, side: int, qty: int, price: float) -> list:
        """Record the order; returns its fill [order id, side, qty, price]."""
        order_id = next(self._ids)
        self.orders.append((order_id, token, side, qty, price))
        return [order_id, side, qty, price]


class Book:
    """Net quantity and cash per instrument; unrealised P&L at the last price seen."""

    def __init__(self):
        self.qty: dict[int, int] = {}
        self.cash: dict[int, float] = {}
        self.ltp: dict[int, float] = {}
        self.fills = 0

    def apply(self, token: int, fill) -> None:
        _, side, qty, price = fill
        self.qty[token] = self.qty.get(token, 0) + side * qty
        self.cash[token] = self.cash.get(token, 0.0) - side * qty * price
        self.fills += 1

    def mark(self, token: int, ltp: float) -> None:
        self.ltp[token] = ltp

    def pnl(self) -> float:
        """Cash plus positions at their last price, over every instrument (₹)."""
        return sum(cash + self.qty[t] * self.ltp.get(t, 0.0) for t, cash in self.cash.items())
