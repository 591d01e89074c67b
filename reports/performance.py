"""What a run's fills earned: the equity curve, its drawdown, P&L per instrument and round trips.

The fills are replayed through the stage's own `PositionBook`, so the report's accounting is the
book's (average cost per instrument, fees realised as paid), not a second implementation of it. The
equity curve is cumulative realised P&L net of fees, one point per fill; open positions are marked
at the end with the last prices positions.json recorded, falling back to the last fill price.

A round trip is one instrument going from flat back to flat (or through zero); its P&L is the
realised P&L net of fees the instrument booked meanwhile, so a fill that crosses zero books its
whole fee to the trip it closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from positions.positionbook import PositionBook


@dataclass
class RoundTrip:
    symbol: str
    opened_ns: int
    closed_ns: int
    side: int            # +1 long, -1 short
    pnl_inr: float       # net of fees


@dataclass
class Performance:
    book: PositionBook
    ts_ns: np.ndarray                # fill times (market time, epoch ns UTC)
    equity_inr: np.ndarray           # cumulative realised P&L net of fees after each fill
    drawdown_inr: np.ndarray         # equity - its running peak (<= 0); the peak starts at 0
    fills: list = field(default_factory=list)      # the fills applied, in order (one per fill id)
    fills_per_symbol: dict = field(default_factory=dict)
    round_trips: list = field(default_factory=list)

    @property
    def realised_pnl_inr(self) -> float:
        return self.book.realised_pnl_inr

    @property
    def unrealised_pnl_inr(self) -> float:
        return self.book.unrealised_pnl_inr

    @property
    def fees_inr(self) -> float:
        return sum(p.fees_inr for p in self.book.positions.values())

    @property
    def max_drawdown_inr(self) -> float:
        return float(self.drawdown_inr.min()) if len(self.drawdown_inr) else 0.0

    @property
    def winners(self) -> int:
        return sum(1 for t in self.round_trips if t.pnl_inr > 0)

    def most_traded(self, n: int) -> list[str]:
        """The `n` symbols with the most fills (ties by name, so the choice is stable)."""
        ranked = sorted(self.fills_per_symbol.items(), key=lambda kv: (-kv[1], kv[0]))
        return [s for s, _ in ranked[:n]]


def drawdown(equity: np.ndarray) -> np.ndarray:
    """How far below its best so far the equity stands; the best starts at 0 (the run's start)."""
    if len(equity) == 0:
        return np.zeros(0)
    peak = np.maximum.accumulate(np.maximum(equity, 0.0))
    return equity - peak


class _TripTracker:
    """Per instrument: when it left flat, in which direction, and its realised net at that
    moment."""

    def __init__(self):
        self.open: dict[int, tuple[int, int, float]] = {}
        self.trips: list[RoundTrip] = []

    def before(self, pos, fill) -> None:
        if pos is None or pos.qty == 0:
            self.open[fill.instrument] = (
                fill.ts_event_ns,
                fill.side,
                pos.realised_pnl_inr if pos else 0.0,
            )

    def after(self, pos, fill, qty_before: int) -> None:
        crossed = qty_before != 0 and (pos.qty == 0 or (pos.qty > 0) != (qty_before > 0))
        if not crossed or fill.instrument not in self.open:
            return
        opened_ns, side, start = self.open.pop(fill.instrument)
        self.trips.append(
            RoundTrip(pos.symbol, opened_ns, fill.ts_event_ns, side, pos.realised_pnl_inr - start)
        )
        # through zero: the rest is a new trip from this fill, its fee already booked
        if pos.qty != 0:
            self.open[fill.instrument] = (fill.ts_event_ns, fill.side, pos.realised_pnl_inr)


def replay(
    fills: list, symbols: list[str], last_prices: dict[int, float] | None = None
) -> Performance:
    """Apply `fills` (OrderFilled, in journal order) to a fresh book; mark it with `last_prices`
    (instrument -> price) where given."""
    book = PositionBook(symbols)
    trips = _TripTracker()
    applied, ts, equity = [], [], []
    per_symbol: dict[str, int] = {}
    for fill in fills:
        pos = book.positions.get(fill.instrument)
        qty_before = pos.qty if pos is not None else 0
        if fill.fill_id in book.seen_fills:
            continue
        trips.before(pos, fill)
        book.apply_fill(fill)
        pos = book.positions[fill.instrument]
        # until the final mark, the latest fill is the latest price
        pos.last_price = fill.price
        trips.after(pos, fill, qty_before)
        applied.append(fill)
        ts.append(fill.ts_event_ns)
        equity.append(book.realised_pnl_inr)
        per_symbol[fill.symbol] = per_symbol.get(fill.symbol, 0) + 1
    for instrument, price in (last_prices or {}).items():
        if instrument in book.positions and price > 0:
            book.positions[instrument].last_price = price
    equity_arr = np.asarray(equity, dtype=np.float64)
    return Performance(
        book,
        np.asarray(ts, dtype=np.int64),
        equity_arr,
        drawdown(equity_arr),
        applied,
        per_symbol,
        trips.trips,
    )


def last_prices_from(positions_doc: dict) -> dict[int, float]:
    """instrument -> last_price from positions.json."""
    return {int(p["instrument"]): float(p.get("last_price") or 0.0)
            for p in positions_doc.get("positions", []) if "instrument" in p}
