"""Brackets emulated by OTrade (no broker offers them through its API): entry, stop-loss, target.

The planner is LEVEL-triggered: from the order book as it stands it computes what should be working
and returns the actions that close the gap (Place / Modify / Cancel). The engine runs it on every
event tick, so it keeps no memory of what it did before, it is idempotent, and after a restart it
simply finishes whatever the dead process had half done.

- Entry: one order, or freeze-sized slices (n = 1, 2, ...) when the quantity is above the exchange
  freeze quantity (risk has already denied those when config.risk.freeze_action is "deny").
- Exits, once entry quantity has filled: a STOP leg (SL-M at the stop, or SL with a limit
  `stop_limit_ticks` beyond it) and a TARGET leg (LIMIT at the target), each sized to the bracket's
  open quantity = entry filled - exits filled.
- Leg prices (`leg_prices`): "fill" (the default) keeps the intent's stop and target at the same
  RATIO to the entry's average fill price as they had to the intent's reference price (its LIMIT
  price, or the last price when the MARKET intent was approved), rounded away from the entry on the
  tick grid; a later partial fill that moves the average re-prices the working legs. "signal" places
  them at the intent's own prices, wherever the entry filled. A new stop that is already through the
  market (the price gapped past it between the fill and the leg) goes as a MARKET exit, counted in
  `through_market`: a stop the exchange would trigger at once is a triggered stop. So a partial
  entry fill gets exits for what filled and later fills grow them (modify up, then new legs once a
  leg would exceed the freeze quantity); an exit's fill shrinks the other leg (modify down); a leg
  left with nothing to cover is canceled: that is the OCO.
- A stop leg the broker refuses (a gap through the trigger before it was placed) is replaced once by
  a MARKET exit: a refused stop is treated as a triggered one. A refused target is not retried (the
  stop still protects); the square-off catches anything left. A leg that failed because the broker
  refused our session (code FATAL) was never judged: it is simply placed again later.
- HALTED: working entries are canceled and missing slices are not sent; exits keep protecting what
  filled. A halt ends the entries of every bracket open at it (`end_entries`), for good: after a
  resume its missing slices are never sent, and an entry of it that turns out to be working (its
  placement was in doubt at the halt, and the broker had it) is canceled as the halt's. Trading
  resumes with new intents, not with entries the halt stopped.
- REDUCING: nothing may add to a position. The risk gate denies new intents, and the entries of
  every bracket open when REDUCING starts that are not at the broker yet end for good, as at a
  halt (`end_entries`): its missing slices are never placed, and an entry of it in doubt found
  never received is rejected (NOT_SENT, naming REDUCING) — after ACTIVE again too: what was not
  sent then must not go out hours later at another price. Working entries stay (REDUCING cancels
  nothing) and exits run as ever.
- Incremental: a bracket's plan depends only on its own orders in the book and on HALTED, so the
  desk re-plans only the brackets `touch`ed since their last empty plan (the engine touches a
  bracket on every event of one of its orders, and all of them when the trading state changes). A
  bracket whose plan produced actions stays touched until a plan of it comes back empty, so an
  action the throttle deferred or the broker refused is planned again, as a full re-plan would. The
  result is the same list of actions a plan over every bracket gives
  (tests/orders/test_brackets_incremental.py checks it on every call), without walking every bracket
  of the day on every event tick.
- Sweep (orders/sweep.py: square-off time, or flatten after the kill switch / FlattenAll): cancel
  every working order, then close each instrument's net position with MARKET orders. Brackets caught
  by a sweep (square-off or flatten) are closed for good (`close_all`): their position is the
  sweep's to close, so no leg of theirs is ever placed again, the next morning included.
- `reachable(instrument, book)`: how far the working and still-to-be-placed orders on an instrument
  can move its position each way (entries not yet filled, the open quantity a bracket's legs will
  close, square-off orders), which risk adds to the position before judging max_position_qty.
  Indexed by instrument, and each bracket's share is kept until it is touched again, so a check
  costs the brackets on its instrument, not every bracket of the day
  (tests/orders/test_brackets_reachable.py compares it with the from-scratch sum on every call).

Imports only the standard library, numpy, the tick grid, the order book, the actions
(orders/actions.py) and the legs' sizing (orders/legs.py).
"""

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from common.pricegrid import round_away, round_nearest
from orders import statemachine as sm
from orders.actions import Cancel, Place, coid_of, coid_of_place
from orders.legs import is_refused, resize, resize_lazily
from orders.orderbook import Order, OrderBook
from orders.reachsums import ReachSums

STOP, TARGET, ENTRY = "STOP", "TARGET", "ENTRY"
LEG_PRICES = ("fill", "signal")


@dataclass(slots=True)
class Bracket:
    intent_id: str
    strategy: str
    instrument: int
    side: int
    stop_loss: float       # the intent's stop, on the tick grid; 0 = no stop leg
    target: float          # the intent's target, on the tick grid; 0 = no target leg
    entry_plan: list       # [Place] of every entry slice, fixed when the intent was approved
    entries: list = field(default_factory=list)   # client order ids submitted, per role
    stops: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    closed: bool = False   # swept: its position is closed by square-off / flatten, not by its legs
    index: int = 0         # opening order: brackets are planned in it
    # the price stop and target were set against (0: unknown, use them as is)
    ref_price: float = 0.0
    # why a halt or REDUCING ended its entries ("" while they may be sent): see "HALTED" and
    # "REDUCING" in the module docstring
    entries_halted: str = ""


def slice_sizes(qty: int, freeze_qty: int) -> list[tuple[int, int]]:
    """(n, qty) of each order: [(0, qty)] if it fits, else freeze-sized slices numbered from 1."""
    if freeze_qty <= 0 or qty <= freeze_qty:
        return [(0, qty)]
    sizes, n = [], 1
    while qty > 0:
        sizes.append((n, min(qty, freeze_qty)))
        qty -= freeze_qty
        n += 1
    return sizes


def _filled(orders: dict, coids: list) -> int:
    """Sum of the orders' filled quantities. A plain loop: the planner adds up the same few
    (usually one or two) orders many times per event, and sum() over a generator costs two calls
    and a frame per order."""
    total = 0
    for c in coids:
        total += orders[c].filled_qty
    return total


def open_qty(b: Bracket, book: OrderBook) -> int:
    """Entry filled minus exits filled: what the legs must cover."""
    orders = book.orders
    return max(0, _filled(orders, b.entries) - _filled(orders, b.stops)
               - _filled(orders, b.targets))


@lru_cache(maxsize=1 << 12, typed=True)
def _from_fill(avg: float, stop_loss: float, target: float, ref_price: float, tick: float,
               below: bool) -> tuple[float, float]:
    """(stop, target) at the intent's ratios to `avg` (leg_prices "fill"), rounded away from the
    entry. Memoised: a bracket is planned again on every event of its orders while its entry's
    average rarely moves, and each JIT-compiled rounding is a dispatch of ~0.5 us."""
    stop_leg = target_leg = 0.0
    if stop_loss > 0:
        stop_leg = float(round_away(avg * (stop_loss / ref_price), tick, below))
    if target > 0:
        target_leg = float(round_away(avg * (target / ref_price), tick, not below))
    return stop_leg, target_leg


def _reach_of(b: Bracket, book: OrderBook) -> tuple[int, int]:
    """(up, down) of one bracket for `BracketDesk.reachable`: its entry quantity not yet filled
    (slices not yet sent included) its own side, its open quantity (what its legs close) back."""
    orders = book.orders
    ahead = 0 if b.entries_halted else sum(p.qty for p in b.entry_plan
                                           if coid_of_place(p) not in orders)
    ahead += sum(orders[c].leaves for c in b.entries)
    back = open_qty(b, book) if (b.stop_loss > 0 or b.target > 0) else 0
    return (ahead, back) if b.side > 0 else (back, ahead)


class BracketDesk:
    """Every bracket of the day (`brackets`, by intent id) and the ones still needing care
    (`active`).

    Parameters
    ----------
    tick_size, freeze_qty : per-instrument arrays (INSTRUMENT_DTYPE columns).
    stop_order_type : "SL-M" (default) or "SL" for the stop leg.
    stop_limit_ticks : for "SL" stops, how many ticks beyond the trigger the limit sits.
    """

    def __init__(self, tick_size, freeze_qty, stop_order_type: str = "SL-M",
                 stop_limit_ticks: int = 2, *, leg_prices: str = "fill", last_price=None):
        if stop_order_type not in ("SL-M", "SL"):
            raise ValueError(f"stop_order_type must be 'SL-M' or 'SL', got {stop_order_type!r}")
        if leg_prices not in LEG_PRICES:
            raise ValueError(f"leg_prices must be one of {LEG_PRICES}, got {leg_prices!r}")
        self._tick_size = tick_size
        self._freeze = freeze_qty
        self._stop_type = stop_order_type
        self._stop_limit_ticks = stop_limit_ticks
        self._from_fill = leg_prices == "fill"
        self._last_price = last_price      # per instrument, the engine's (None: never through)
        self.brackets: dict[str, Bracket] = {}
        self.active: dict[str, Bracket] = {}
        self._active_on: dict[int, dict[str, Bracket]] = {}   # `active` by instrument
        self._reach: ReachSums[Bracket] = ReachSums()   # reachable, per instrument
        self.touched: set[str] = set()     # active brackets whose plan may have changed
        self.through_market: set[str] = set()   # brackets whose stop went as a MARKET exit
        self._sl_stops: list[Order] = []         # working SL stops, as of the last set_alerts
        self._entries_halted: set[str] = set()   # active brackets whose entries a halt ended

    def open(self, intent) -> Bracket:
        """Record an approved intent (a SignalRaised) as a bracket; rounding is ours to do.

        Every price is put on the tick grid here (a strategy's 1598.6000000000001 leaves as 1598.6):
        the LIMIT entry to the nearest tick, the stop and target away from the entry.
        """
        k, tick = intent.instrument, float(self._tick_size[intent.instrument])
        limit = intent.order_type == "LIMIT"
        iid = intent.intent_id
        entry_price = float(round_nearest(intent.limit_price, tick)) if limit else 0.0
        plan = [Place(ENTRY, iid, n, iid, intent.strategy, k, intent.side, q,
                      "LIMIT" if limit else "MARKET", entry_price)
                for n, q in slice_sizes(intent.qty, int(self._freeze[k]))]
        below = intent.side > 0                 # a BUY's stop sits below, a SELL's target below
        stop = float(round_away(intent.stop_loss, tick, below)) if intent.stop_loss > 0 else 0.0
        target = float(round_away(intent.target, tick, not below)) if intent.target > 0 else 0.0
        b = Bracket(intent.intent_id, intent.strategy, k, intent.side, stop, target, plan,
                    index=len(self.brackets), ref_price=float(intent.ref_price))
        self.brackets[b.intent_id] = self.active[b.intent_id] = b
        self._active_on.setdefault(k, {})[b.intent_id] = b
        self._reach.stale(k, b.intent_id, b)
        self.touched.add(b.intent_id)
        return b

    def active_on(self, instrument: int) -> list[Bracket]:
        """The active brackets on `instrument`, in opening order."""
        return list(self._active_on.get(instrument, {}).values())

    def _retire(self, b: Bracket) -> None:
        """Nothing left to do for `b`: it leaves `active`."""
        self._entries_halted.discard(b.intent_id)
        del self.active[b.intent_id]
        del self._active_on[b.instrument][b.intent_id]
        self._reach.drop(b.instrument, b.intent_id)

    def touch(self, bracket_id: str) -> None:
        """One of this bracket's orders changed: plan it again at the next event tick."""
        b = self.active.get(bracket_id)
        if b is not None:
            self.touched.add(bracket_id)
            self._reach.stale(b.instrument, bracket_id, b)

    def touch_all(self) -> None:
        """Something every plan depends on changed (the trading state)."""
        self.touched.update(self.active)
        for b in self.active.values():
            self._reach.stale(b.instrument, b.intent_id, b)

    def attach(self, order: Order) -> None:
        """File a submitted order under its bracket's role list (once)."""
        b = self.brackets.get(order.bracket_id)
        if b is None:
            return
        coids = {ENTRY: b.entries, STOP: b.stops, TARGET: b.targets}.get(order.role)
        if coids is not None and order.client_order_id not in coids:
            coids.append(order.client_order_id)

    def end_entries(self, reason: str, *, cancel: bool) -> None:
        """Trading was halted, or is REDUCING (`reason` says which and why): the entries of every
        bracket open now end (see "HALTED" and "REDUCING" in the module docstring) — `cancel`: its
        working entries too (a halt); a bracket already ended keeps the first reason."""
        for b in self.active.values():
            b.entries_halted = b.entries_halted or reason
            if cancel:
                self._entries_halted.add(b.intent_id)
            self._reach.stale(b.instrument, b.intent_id, b)
        self.touched.update(self.active)

    def close_all(self) -> None:
        """A sweep (square-off or flatten) took over every bracket open now: their legs are
        canceled, not resized, and never placed again."""
        for b in self.active.values():
            b.closed = True
        self._entries_halted.clear()
        self.active.clear()
        self._active_on.clear()
        self._reach.clear()
        self.touched.clear()

    def reachable(self, instrument: int, book: OrderBook) -> tuple[int, int]:
        """(up, down): how much the orders working or still to be placed on `instrument` can add to
        its net position, long-wards and short-wards.

        A bracket moves the position its own side by the entry quantity not yet filled (slices not
        yet sent included) and back by its open quantity once its legs close it — counted once for
        the OCO pair, as only one of them may fill. Square-off / flatten orders move it by what they
        have left. Risk adds these to the position, so max_position_qty holds for every position
        the working orders can produce, whichever of them fill and in whatever order.

        A bracket's share is computed again only once it has been touched since (`_reach`).
        """
        up, down = self._reach.total(instrument, lambda b: _reach_of(b, book))
        for o in book.working_closes():
            if o.instrument == instrument:
                if o.side > 0:
                    up += o.leaves
                else:
                    down += o.leaves
        return up, down

    def plan(self, book: OrderBook, halted: bool, past_cutoff: bool = False,
             reducing: bool = False) -> list:
        """Missing entry slices (unless halted, reducing — no order may add to a position then,
        as the risk gate denies new intents — or past the entry cut-off), exit resizing, and entry
        cancels: every working entry when halted, and after a resume those of brackets whose
        entries the halt ended; past the cut-off the LIMIT ones, which rest (a MARKET entry is in
        flight and fills at once: cancelling it would only race its fill).

        Only touched brackets are planned, in the order they were opened; one whose plan is empty
        is untouched, and dropped from `active` when it has nothing left to do.
        """
        actions: list = []
        todo = [self.active[iid] for iid in self.touched]
        if len(todo) > 1:       # most plans have one touched bracket: nothing to sort
            todo.sort(key=_by_index)
        for b in todo:
            mine = self.plan_bracket(b, book, halted or past_cutoff or reducing)
            if mine:
                actions += mine
                continue
            self.touched.discard(b.intent_id)
            if self._finished(b, book):
                self._retire(b)
        ended = self._entries_halted
        if halted or past_cutoff or ended:
            for o in book.working_entries():
                if not o.broker_order_id or o.status == sm.CANCEL_PENDING:
                    continue
                if halted or o.bracket_id in ended:
                    actions.append(Cancel(o.client_order_id, "trading halted"))
                elif past_cutoff and o.order_type == "LIMIT":
                    actions.append(Cancel(o.client_order_id, "the entry cut-off"))
        return actions

    def plan_bracket(self, b: Bracket, book: OrderBook, halted: bool) -> list:
        """What closes the gap for one bracket: missing entry slices (unless halted now, or a halt
        ended its entries), exit legs."""
        exits = self._plan_exits(b, book)
        if halted or b.entries_halted:
            return exits
        orders = book.orders
        missing = [p for p in b.entry_plan if coid_of(p.intent_id, p.role, p.n) not in orders]
        return missing + exits if missing else exits

    def prune(self, book: OrderBook) -> None:
        """Drop brackets with nothing left to do: entries final, legs final, nothing open."""
        done = [b for b in self.active.values() if self._finished(b, book)]
        for b in done:
            self._retire(b)
            self.touched.discard(b.intent_id)

    def _finished(self, b: Bracket, book: OrderBook) -> bool:
        """Every entry slice sent, every order final, and flat (or a bracket without legs: then
        what is open is square-off's job). One pass, leaving at the first working order: it runs
        after every empty plan."""
        if len(b.entries) < len(b.entry_plan) and not b.entries_halted:
            return False
        orders, working = book.orders, sm.WORKING
        left = 0                                  # entry filled minus exits filled (open_qty)
        for c in b.entries:
            o = orders[c]
            if o.status in working:
                return False
            left += o.filled_qty
        for coids in (b.stops, b.targets):
            for c in coids:
                o = orders[c]
                if o.status in working:
                    return False
                left -= o.filled_qty
        return left <= 0 or (b.stop_loss == 0 and b.target == 0)

    def leg_prices(self, b: Bracket, book: OrderBook) -> tuple[float, float]:
        """(stop, target) the legs should have now (see "Leg prices" in the module docstring)."""
        return self._leg_prices(b, book.orders, _filled(book.orders, b.entries))

    def _leg_prices(self, b: Bracket, orders: dict, filled: int) -> tuple[float, float]:
        """`leg_prices` given the entries' filled quantity (the planner has it already)."""
        if not self._from_fill or b.ref_price <= 0 or filled == 0:
            return b.stop_loss, b.target
        entries = b.entries
        if len(entries) == 1:       # the usual unsliced entry: sum() of one value is that value
            value = orders[entries[0]].filled_value
        else:
            value = sum(orders[c].filled_value for c in entries)
        return _from_fill(value / filled, b.stop_loss, b.target, b.ref_price,
                          float(self._tick_size[b.instrument]), b.side > 0)

    def _plan_exits(self, b: Bracket, book: OrderBook) -> list:
        orders = book.orders
        stops = [orders[c] for c in b.stops]
        targets = [orders[c] for c in b.targets]
        # One pass over the stops gathers all the rules below ask of them (it was a sum, a count
        # and four any()/list passes, each a generator, on every plan of every touched bracket).
        refused = exits_filled = 0
        working = []            # working stops with a trigger
        market = False          # a stop went as a MARKET exit
        exiting = False         # a stop filled, or triggered and still working
        for o in stops:
            if o.status in sm.WORKING:
                if o.trigger_price > 0:
                    working.append(o)
                if o.triggered:
                    exiting = True
            elif is_refused(o):
                refused += 1
            if o.filled_qty > 0:
                exits_filled += o.filled_qty
                exiting = True
            if o.order_type == "MARKET":
                market = True
        for o in targets:
            exits_filled += o.filled_qty
        entry_filled = _filled(orders, b.entries)
        want = max(0, entry_filled - exits_filled)        # open_qty
        cap = int(self._freeze[b.instrument])
        stop, target = (self._leg_prices(b, orders, entry_filled) if want > 0
                        else (b.stop_loss, b.target))
        if b.stop_loss > 0 and refused < 2:
            through = not refused and not working and self._through(b, stop)
            if through:
                self.through_market.add(b.intent_id)
            if refused or through or market:
                return self._exit_now(b, stops, targets, want, cap)
            gapped = [o for o in working if o.order_type == "SL" and self._gapped(b, o)]
            if gapped:
                # The market went through the SL's limit by as much again: the limit will not fill
                # and the position rides the gap. Cancel it (and the target); once confirmed, the
                # stop is through the market and leaves as a MARKET exit (_exit_now).
                return [Cancel(o.client_order_id, "the market gapped through the stop's limit")
                        for o in gapped + [t for t in targets if t.working]
                        if o.status != sm.CANCEL_PENDING and o.broker_order_id]
            if exiting:
                # The stop triggered (filling, maybe in parts on a thin book, or a limit not yet
                # reached): the bracket leaves there, so the target goes now. Left working beside
                # it, a turn back through both would fill both for the same shares. (A triggered
                # stop canceled unfilled — a gap — began no exit: its replacement gets a target.)
                return [Cancel(o.client_order_id, "the stop triggered: the target is not needed")
                        for o in targets if o.working and o.status != sm.CANCEL_PENDING
                        and o.broker_order_id] + self._size_stops(b, stops, want, cap, stop)
            if working and self._through(b, stop):
                # Not re-priced through the market (the exchange would refuse the modify): the
                # working stop keeps its trigger, and a leg grown for a later fill goes beside it.
                stop = working[-1].trigger_price
            return self._size_stops(b, stops, want, cap, stop) + \
                self._target_legs(b, targets, want, cap, target)
        return self._target_legs(b, targets, want, cap, target)

    def _target_legs(self, b: Bracket, targets: list, want: int, cap: int, target: float) -> list:
        if b.target <= 0:
            return []
        for o in targets:
            if is_refused(o):
                return []
        return resize_lazily(targets, want, cap, "LIMIT", target, 0.0, lambda: Place(
            TARGET, b.intent_id, len(b.targets), b.intent_id, b.strategy, b.instrument, -b.side, 0,
            "LIMIT", target))

    def _exit_now(self, b: Bracket, stops: list, targets: list, want: int, cap: int) -> list:
        """The stop counts as triggered (the broker refused it, or the price is already through it):
        the target is canceled FIRST and the open quantity leaves as a MARKET exit once that is
        confirmed, as a sweep waits for its cancels — a MARKET exit beside a working target is a
        pair that can both fill. Sticky: the book's MARKET stop keeps the bracket here."""
        live = [o for o in targets if o.status in sm.WORKING]
        if live:
            return [Cancel(o.client_order_id, "stop triggered: a market exit replaces the pair")
                    for o in live if o.status != sm.CANCEL_PENDING and o.broker_order_id]
        if not (stops or want):
            return []       # nothing to cover and no leg to resize: resize would give []
        leg = Place(STOP, b.intent_id, len(b.stops), b.intent_id, b.strategy, b.instrument,
                    -b.side, 0, "MARKET")
        return resize(stops, want, cap, leg)

    def set_alerts(self, book: OrderBook, lo, hi) -> None:
        """Price alerts for the scan: where each working SL stop counts as gapped through its limit
        (a tick beyond must be settled, so the stop becomes a MARKET exit at once)."""
        stops = book.working_sl_stops()
        if not stops and not self._sl_stops:
            return          # none now, none set last time: lo and hi are still all open
        lo[:] = -np.inf
        hi[:] = np.inf
        self._sl_stops = []
        for o in stops:
            if o.status == sm.CANCEL_PENDING:
                continue
            self._sl_stops.append(o)
            gap = abs(o.trigger_price - o.price)
            if o.side < 0:      # a sell stop, under a long: gapped below its limit
                lo[o.instrument] = max(lo[o.instrument], o.price - gap)
            else:
                hi[o.instrument] = min(hi[o.instrument], o.price + gap)

    def gapped_stops(self, book: OrderBook) -> list[str]:
        """Brackets with a working SL stop the market has gapped through (to plan again now)."""
        return [o.bracket_id for o in self._sl_stops if o.working and o.bracket_id in self.active
                and self._gapped(self.active[o.bracket_id], o)]

    def _gapped(self, b: Bracket, o: Order) -> bool:
        """An SL leg's limit is behind the market by more than its own trigger-to-limit gap."""
        if self._last_price is None:
            return False
        ltp = float(self._last_price[b.instrument])
        gap = abs(o.trigger_price - o.price)
        return ltp > 0 and (ltp - (o.price - b.side * gap)) * b.side < 0

    def _through(self, b: Bracket, stop: float) -> bool:
        """The last price is already at or beyond the stop: the exchange would trigger it at
        once."""
        if self._last_price is None:
            return False
        ltp = float(self._last_price[b.instrument])
        return ltp > 0 and (ltp - stop) * b.side <= 0

    def _stop_leg(self, b: Bracket, stop: float) -> Place:
        return Place(STOP, b.intent_id, len(b.stops), b.intent_id, b.strategy, b.instrument,
                     -b.side, 0, self._stop_type, self._stop_limit(b, stop), stop)

    def _stop_limit(self, b: Bracket, stop: float) -> float:
        """The stop leg's limit price: 0 for SL-M; for SL a few ticks beyond the trigger."""
        if self._stop_type != "SL":
            return 0.0
        tick = float(self._tick_size[b.instrument])    # a sell stop's limit sits below its trigger
        return float(round_nearest(stop - b.side * self._stop_limit_ticks * tick, tick))

    def _size_stops(self, b: Bracket, stops: list, want: int, cap: int, stop: float) -> list:
        """`resize(stops, want, cap, self._stop_leg(b, stop))`, the leg built only when needed."""
        return resize_lazily(stops, want, cap, self._stop_type, self._stop_limit(b, stop), stop,
                             lambda: self._stop_leg(b, stop))


def _by_index(b: Bracket) -> int:
    return b.index
