"""Which strategy and which trade each fill belongs to, square-off and flatten fills included.

A trade is one bracket's round trip: from its entry's first fill until the bracket's own quantity is
flat again (its stop, target, or a share of a square-off closed it). Fills are keyed by
`bracket_id`; a fill with a strategy but no bracket is keyed by (strategy, symbol), and its trade
runs flat to flat.

SQUAREOFF and FLATTEN fills carry no strategy or bracket: the engine closes an instrument's *net*
position, which may span brackets of several strategies. Such a fill is split among the trades it
reduces (open on that instrument, on the opposite side), pro rata by their open quantity, in whole
shares (largest remainder; ties to the trade opened first); its fee is split in proportion to the
quantity. Quantity that closes no open trade (a position from before this run, an over-close) goes
to the UNATTRIBUTED bucket, whose trades run flat to flat per instrument like a strategy's.
"""

from __future__ import annotations

from dataclasses import dataclass

UNATTRIBUTED = "(unattributed)"


@dataclass(frozen=True)
class Leg:
    """A fill, or the share of a close fill given to one trade."""

    ts_ns: int
    strategy: str
    trade: str          # trade id: the bracket id (or strategy:symbol) and its occurrence, "#n"
    instrument: int
    symbol: str
    side: int
    qty: int
    price: float
    fees_inr: float


@dataclass
class Trade:
    trade: str
    strategy: str
    symbol: str
    side: int                  # +1 long, -1 short: the direction of its first fill
    opened_ns: int
    closed_ns: int = 0         # 0 while still open at the end of the run
    qty: int = 0               # signed quantity still open
    cash_inr: float = 0.0      # sum of -side * qty * price: the gross P&L once flat
    fees_inr: float = 0.0

    @property
    def closed(self) -> bool:
        return self.closed_ns > 0

    @property
    def net_inr(self) -> float:
        return self.cash_inr - self.fees_inr


def split_pro_rata(qty: int, open_qty: list[int]) -> list[int]:
    """Whole shares of `qty` in proportion to `open_qty` (each capped at its own), largest remainder
    first, ties to the lower index; what exceeds their sum is not given to any."""
    total = sum(open_qty)
    if total <= qty:
        return list(open_qty)
    exact = [qty * q / total for q in open_qty]
    shares = [int(e) for e in exact]
    order = sorted(range(len(open_qty)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: qty - sum(shares)]:
        shares[i] += 1
    return shares


class Attribution:
    """Fills in journal order in; legs and trades out."""

    def __init__(self):
        self.legs: list[Leg] = []
        self.trades: list[Trade] = []
        # key (bracket or strategy:symbol) -> its open trade
        self._open: dict[str, Trade] = {}
        self._count: dict[str, int] = {}

    def _book(self, key: str, strategy: str, fill, qty: int, fees: float) -> None:
        trade = self._open.get(key)
        if trade is None:
            n = self._count[key] = self._count.get(key, 0) + 1
            trade = self._open[key] = Trade(
                f"{key}#{n}", strategy, fill.symbol, fill.side, fill.ts_event_ns
            )
            self.trades.append(trade)
        trade.qty += fill.side * qty
        trade.cash_inr -= fill.side * qty * fill.price
        trade.fees_inr += fees
        self.legs.append(
            Leg(
                fill.ts_event_ns,
                strategy,
                trade.trade,
                fill.instrument,
                fill.symbol,
                fill.side,
                qty,
                fill.price,
                fees,
            )
        )
        if trade.qty == 0:
            trade.closed_ns = fill.ts_event_ns
            del self._open[key]

    def add(self, fill) -> None:
        if fill.strategy or fill.bracket_id:
            key = fill.bracket_id or f"{fill.strategy}:{fill.symbol}"
            self._book(key, fill.strategy, fill, fill.qty, fill.fees_inr)
            return
        reduced = [
            (k, t)
            for k, t in self._open.items()
            if t.symbol == fill.symbol and t.qty * fill.side < 0
        ]
        shares = split_pro_rata(fill.qty, [abs(t.qty) for _, t in reduced])
        parts = [(key, trade.strategy, q) for (key, trade), q in zip(reduced, shares) if q]
        rest = fill.qty - sum(shares)
        if rest:
            parts.append((f"{UNATTRIBUTED}:{fill.symbol}", UNATTRIBUTED, rest))
        fees_left = fill.fees_inr
        for i, (key, strategy, q) in enumerate(parts):
            # the last share takes what is left, so the shares' fees add up to the fill's exactly
            fees = fees_left if i == len(parts) - 1 else fill.fees_inr * q / fill.qty
            fees_left -= fees
            self._book(key, strategy, fill, q, fees)


def attribute(fills: list) -> Attribution:
    """Legs and trades of `fills` (OrderFilled, in journal order, one per fill id)."""
    result = Attribution()
    for fill in fills:
        if fill.qty > 0:
            result.add(fill)
    return result
