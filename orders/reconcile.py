"""Reconciliation: our view of the account against the broker's, as a pure comparison.

`compare(ours, broker, baseline)` returns every `Difference` our in-doubt orders do not explain. It
reads two plain views, so it is tested with hand-built ones; `engine_view` and `broker_view` build
them from the engine (read only: its book and `positions()`) and from the adapter (`orders()`,
`trades()`, `positions()`; a live adapter's orders and trades list only rows tagged with our client
ids, common/ids.py). orders/reconciler.py decides what a difference does (trading HALTED, named).

What counts as a difference (each has a `kind`):
- unknown_working_order: an order of ours is working at the broker and the journal never sent it;
- unknown_trade: the broker executed an order of ours the journal does not know;
- order_final_at_broker: we think an order works, the broker says it is filled, canceled or
  rejected;
- order_missing_at_broker: we think an order works, the broker has no such order;
- fill_differs: both know the order, with a different filled quantity;
- position_differs: the broker's net quantity in an instrument is not ours (plus any adopted
  offset).
Explained, so never a difference: anything about an order in doubt (SUBMITTING / IN_DOUBT: the
engine is still finding out), and the position of an instrument with such an order.

The baseline is what the operator adopted (`ctl adopt`): per-instrument offsets (broker − ours at
adoption) that later checks add to ours, and client ids whose broker rows are no longer compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orders import statemachine as sm

UNRESOLVED = frozenset((sm.SUBMITTING, sm.IN_DOUBT))
BROKER_WORKING = frozenset((sm.ACCEPTED, sm.PARTIALLY_FILLED, sm.CANCEL_PENDING))


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One order as one side sees it (status in OTrade's vocabulary, orders/statemachine.py)."""

    client_order_id: str
    instrument: int
    symbol: str
    status: str
    qty: int
    filled_qty: int


@dataclass(frozen=True, slots=True)
class TradeRow:
    trade_id: str
    client_order_id: str
    instrument: int
    qty: int


@dataclass(frozen=True)
class AccountView:
    """Orders by client id, trades, net quantity per instrument; `fill_ids` (ours only) the trade
    ids our journal has applied."""

    orders: dict[str, OrderRow] = field(default_factory=dict)
    trades: tuple[TradeRow, ...] = ()
    positions: dict[int, int] = field(default_factory=dict)
    fill_ids: frozenset[str] = frozenset()
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True)
class Baseline:
    position_offsets: dict[int, int] = field(default_factory=dict)   # instrument -> broker − ours
    adopted_ids: frozenset[str] = frozenset()                        # client ids not compared again

    def to_json(self) -> dict:
        return {"position_offsets": {str(k): v for k, v in sorted(self.position_offsets.items())},
                "adopted_ids": sorted(self.adopted_ids)}

    @classmethod
    def from_json(cls, doc) -> "Baseline":
        """The baseline a previous process saved; an unreadable document is no baseline
        (ValueError)."""
        if not isinstance(doc, dict):
            raise ValueError("reconcile baseline is not an object")
        offsets = {int(k): int(v) for k, v in dict(doc.get("position_offsets") or {}).items()}
        return cls(offsets, frozenset(str(c) for c in doc.get("adopted_ids") or ()))


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str
    symbol: str
    detail: str
    # stable identity (kind and subject): a difference still there at the next check has the same
    # key, whatever its quantities; only the same key with the same detail is the same difference
    # seen twice (orders/reconciler.py)
    key: str
    client_order_id: str = ""
    instrument: int = -1

    def describe(self) -> str:
        return f"{self.kind} {self.symbol}: {self.detail}"


def compare(
    ours: AccountView, broker: AccountView, baseline: Baseline = Baseline()
) -> list[Difference]:
    """Every difference between the two views that in-doubt orders and the baseline do not
    explain."""
    diffs = _order_differences(ours, broker, baseline) + _trade_differences(ours, broker, baseline)
    diffs += _position_differences(ours, broker, baseline)
    return sorted(diffs, key=lambda d: d.key)


def _order_differences(
    ours: AccountView, broker: AccountView, baseline: Baseline
) -> list[Difference]:
    out = []
    theirs: OrderRow | None
    for coid, theirs in broker.orders.items():
        if (
            coid
            and coid not in ours.orders
            and coid not in baseline.adopted_ids
            and theirs.status in BROKER_WORKING
        ):
            out.append(
                Difference(
                    "unknown_working_order",
                    theirs.symbol,
                    f"{coid} {theirs.status} qty {theirs.qty} filled {theirs.filled_qty} at the "
                    f"broker, not in our journal",
                    f"unknown_working_order:{coid}",
                    coid,
                    theirs.instrument,
                )
            )
    for coid, mine in ours.orders.items():
        if mine.status in UNRESOLVED or coid in baseline.adopted_ids:
            continue
        theirs = broker.orders.get(coid)
        if mine.status in sm.WORKING and theirs is None:
            out.append(
                Difference(
                    "order_missing_at_broker",
                    mine.symbol,
                    f"{coid} {mine.status} for us, unknown to the broker",
                    f"order_missing_at_broker:{coid}",
                    coid,
                    mine.instrument,
                )
            )
        elif theirs is None:
            continue
        elif mine.status in sm.WORKING and theirs.status in sm.TERMINAL:
            out.append(
                Difference(
                    "order_final_at_broker",
                    mine.symbol,
                    f"{coid} {mine.status} for us, {theirs.status} at the broker",
                    f"order_final_at_broker:{coid}",
                    coid,
                    mine.instrument,
                )
            )
        elif mine.status in sm.TERMINAL and theirs.status in BROKER_WORKING:
            # We think it done (cancelled, rejected, filled) and the broker still works it: it can
            # fill behind our back.
            out.append(
                Difference(
                    "order_working_at_broker",
                    mine.symbol,
                    f"{coid} {mine.status} for us, {theirs.status} at the broker",
                    f"order_working_at_broker:{coid}",
                    coid,
                    mine.instrument,
                )
            )
        elif theirs.filled_qty != mine.filled_qty:
            out.append(
                Difference(
                    "fill_differs",
                    mine.symbol,
                    f"{coid} filled {mine.filled_qty} for us, {theirs.filled_qty} at the broker",
                    f"fill_differs:{coid}",
                    coid,
                    mine.instrument,
                )
            )
    return out


def _trade_differences(
    ours: AccountView, broker: AccountView, baseline: Baseline
) -> list[Difference]:
    out = []
    for t in broker.trades:
        if t.trade_id in ours.fill_ids or t.client_order_id in baseline.adopted_ids:
            continue
        mine = ours.orders.get(t.client_order_id)
        if mine is not None and mine.status in UNRESOLVED:
            continue
        what = "an order not in our journal" if mine is None else "a fill our journal lacks"
        out.append(Difference("unknown_trade", _symbol(broker, ours, t.instrument),
                              f"trade {t.trade_id} qty {t.qty} of {t.client_order_id}: {what}",
                              f"unknown_trade:{t.trade_id}", t.client_order_id, t.instrument))
    return out


def _position_differences(
    ours: AccountView, broker: AccountView, baseline: Baseline
) -> list[Difference]:
    in_doubt = {o.instrument for o in ours.orders.values() if o.status in UNRESOLVED}
    out = []
    for inst in sorted(
        set(ours.positions) | set(broker.positions) | set(baseline.position_offsets)
    ):
        expected = ours.positions.get(inst, 0) + baseline.position_offsets.get(inst, 0)
        actual = broker.positions.get(inst, 0)
        if expected != actual and inst not in in_doubt:
            offset = baseline.position_offsets.get(inst, 0)
            adopted = f" (ours {ours.positions.get(inst, 0)} + adopted {offset})" if offset else ""
            out.append(Difference("position_differs", _symbol(broker, ours, inst),
                                  f"net qty {expected} for us{adopted}, {actual} at the broker",
                                  f"position_differs:{inst}", "", inst))
    return out


def _symbol(broker: AccountView, ours: AccountView, instrument: int) -> str:
    for view in (ours, broker):
        if 0 <= instrument < len(view.symbols):
            return view.symbols[instrument]
    return f"#{instrument}"


def adopt(ours: AccountView, broker: AccountView, baseline: Baseline) -> Baseline:
    """The baseline that makes the broker's current view ours: positions as offsets, and every order
    or trade the two views disagree about no longer compared."""
    offsets = {}
    # An instrument with an order of ours in doubt keeps its old offset: the difference there is
    # that order's, and its resolution brings our position to the broker's (adopting it too would
    # count the fill twice once the order is resolved).
    in_doubt = {o.instrument for o in ours.orders.values() if o.status in UNRESOLVED}
    for inst in set(ours.positions) | set(broker.positions) | set(baseline.position_offsets):
        offset = broker.positions.get(inst, 0) - ours.positions.get(inst, 0)
        if inst in in_doubt:
            offset = baseline.position_offsets.get(inst, 0)
        if offset:
            offsets[inst] = offset
    ids = {d.client_order_id for d in compare(ours, broker, baseline) if d.client_order_id}
    return Baseline(offsets, baseline.adopted_ids | ids)


def engine_view(engine, symbols) -> AccountView:
    """What the engine knows (read only): every order of its book, its net positions, its fills."""
    book = engine.book
    orders = {
        o.client_order_id: OrderRow(
            o.client_order_id, o.instrument, o.symbol, o.status, o.qty, o.filled_qty
        )
        for o in book.orders.values()
    }
    positions = {k: v[0] for k, v in engine.positions().items() if v[0]}
    return AccountView(orders, (), positions, frozenset(book.fill_ids), tuple(symbols))


def broker_view(broker, symbols) -> AccountView:
    """What the broker says (raises what the adapter raises: BrokerRetryable, BrokerFatal, ...).

    Three reads, not one snapshot: a fill can land between them. Positions are read first, so a
    fill they show is also in the order and trade books read after it: a position that a fill in
    flight moves always comes with that fill's own differences (its order final at the broker, its
    trade unknown to our journal), which is how a check and an adoption tell it from a mismatch."""
    positions = {p.instrument: p.qty for p in broker.positions() if p.qty}
    orders = {
        o.client_order_id: OrderRow(
            o.client_order_id, o.instrument, o.symbol, o.status, o.qty, o.filled_qty
        )
        for o in broker.orders()
        if o.client_order_id
    }
    trades = tuple(
        TradeRow(t.trade_id, t.client_order_id, t.instrument, t.side * t.qty)
        for t in broker.trades()
        if t.client_order_id
    )
    return AccountView(orders, trades, positions, frozenset(), tuple(symbols))
