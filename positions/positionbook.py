"""The position book: positions from fills, applied exactly once per fill id, marked to market.

Average-cost accounting per instrument, by common/accounting.py (the same function the orders engine
and the paper broker use): adding to a position moves the average price; reducing realises (exit
price
- average) × qty in the position's direction; crossing through zero realises the closed part and
  opens
the rest at the fill price. Fees are realised as they are paid. Amounts are rupees (floats);
`realised_pnl_inr` is net of fees, `gross_realised_inr` before them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from common.accounting import apply_trade


@dataclass
class Position:
    instrument: int
    symbol: str
    qty: int = 0                 # signed: > 0 long, < 0 short
    avg_price: float = 0.0
    gross_realised_inr: float = 0.0
    fees_inr: float = 0.0
    last_price: float = 0.0
    buy_qty: int = 0
    sell_qty: int = 0

    @property
    def realised_pnl_inr(self) -> float:
        return self.gross_realised_inr - self.fees_inr

    @property
    def unrealised_pnl_inr(self) -> float:
        if self.qty == 0 or self.last_price <= 0:
            return 0.0
        return (self.last_price - self.avg_price) * self.qty

    def apply(self, side: int, qty: int, price: float, fees_inr: float) -> None:
        self.fees_inr += fees_inr
        if side > 0:
            self.buy_qty += qty
        else:
            self.sell_qty += qty
        self.qty, self.avg_price, self.gross_realised_inr = apply_trade(
            self.qty, self.avg_price, self.gross_realised_inr, side * qty, price)

    def as_dict(self) -> dict:
        return {
            "instrument": self.instrument,
            "symbol": self.symbol,
            "qty": self.qty,
            "avg_price": round(self.avg_price, 6),
            "last_price": self.last_price,
            "buy_qty": self.buy_qty,
            "sell_qty": self.sell_qty,
            "realised_pnl_inr": round(self.realised_pnl_inr, 6),
            "gross_realised_inr": round(self.gross_realised_inr, 6),
            "fees_inr": round(self.fees_inr, 6),
            "unrealised_pnl_inr": round(self.unrealised_pnl_inr, 6),
        }


class PositionBook:
    def __init__(self, symbols: list[str]):
        self.symbols = symbols
        self.positions: dict[int, Position] = {}
        self.seen_fills: set[str] = set()
        self.duplicates = 0
        # journal seq of the last fill applied (catch-up resumes after it)
        self.last_fill_seq = 0

    def apply_fill(self, fill) -> bool:
        """Apply an OrderFilled once; return False (and count it) for a fill id seen before."""
        if fill.fill_id in self.seen_fills:
            self.duplicates += 1
            return False
        self.seen_fills.add(fill.fill_id)
        pos = self.positions.get(fill.instrument)
        if pos is None:
            pos = self.positions[fill.instrument] = Position(fill.instrument, fill.symbol)
        pos.apply(fill.side, fill.qty, fill.price, fill.fees_inr)
        if pos.last_price <= 0:
            pos.last_price = fill.price
        self.last_fill_seq = max(self.last_fill_seq, fill.seq)
        return True

    def state(self) -> dict:
        """Everything a restarted book needs to continue exactly where this one is
        (positions/snapshot.py): each Position's fields unrounded (a restored book then goes on
        bit for bit like one that re-read every fill), the duplicate counter and every fill id
        seen. All the ids, not only recent ones: the orders journal may carry a fill id again
        (a broker re-delivering a trade after an orders restart is counted as a duplicate here),
        and nothing bounds how far back the first copy is."""
        return {
            "positions": [asdict(p) for _, p in sorted(self.positions.items())],
            "fill_ids": sorted(self.seen_fills),
            "duplicates": self.duplicates,
            "last_fill_seq": self.last_fill_seq,
        }

    @classmethod
    def from_state(cls, symbols: list[str], state: dict) -> "PositionBook":
        """The book `state()` described (its values already type-checked by the caller)."""
        book = cls(symbols)
        for row in state["positions"]:
            pos = Position(**row)
            book.positions[pos.instrument] = pos
        book.seen_fills = set(state["fill_ids"])
        book.duplicates = state["duplicates"]
        book.last_fill_seq = state["last_fill_seq"]
        return book

    def mark(self, last_prices) -> None:
        """Mark every open position to the latest price (`last_prices[instrument]`, 0 = none
        yet)."""
        for pos in self.positions.values():
            price = float(last_prices[pos.instrument])
            if price > 0:
                pos.last_price = price

    @property
    def realised_pnl_inr(self) -> float:
        return sum(p.realised_pnl_inr for p in self.positions.values())

    @property
    def unrealised_pnl_inr(self) -> float:
        return sum(p.unrealised_pnl_inr for p in self.positions.values())

    @property
    def gross_exposure_inr(self) -> float:
        return sum(abs(p.qty) * (p.last_price or p.avg_price) for p in self.positions.values())

    def as_dict(self) -> dict:
        rows = [p.as_dict() for _, p in sorted(self.positions.items())]
        return {"positions": rows, "realised_pnl_inr": round(self.realised_pnl_inr, 6),
                "unrealised_pnl_inr": round(self.unrealised_pnl_inr, 6),
                "gross_exposure_inr": round(self.gross_exposure_inr, 6),
                "fills_applied": len(self.seen_fills), "duplicate_fills": self.duplicates}
