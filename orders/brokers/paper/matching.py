"""The paper exchange's fill model: a numba kernel over arrays of working orders.

Fills are a pure function of the tick stream and the orders (never of wall-clock or scheduling):

- an order is eligible only on ticks of its instrument with seq > its `after_seq`;
- MARKET fills on its first eligible tick at that tick's price plus `slippage_ticks` ticks against
  it (a buy pays more, a sell gets less);
- LIMIT buy fills when a tick's price <= the limit, sell when >= the limit, AT THE LIMIT PRICE: no
  price improvement, even for a limit that was marketable when placed (conservative and predictable:
  a target leg books exactly its target);
- SL-M triggers when the price crosses the trigger (buy: price >= trigger, sell: price <= trigger)
  and fills on that same tick like a MARKET order; SL triggers the same way and then rests as a
  LIMIT at its price (it may fill on the triggering tick);
- each order fills at most `max_fill_qty` units per tick (0 = no limit), so partial fills happen
  deterministically; orders do not share liquidity (each sees the whole tick);
- within a tick, orders are matched in placement order (slot order).

Prices compare with a tolerance of a millionth of a tick, so 0.1 + 0.2 still meets a 0.3 limit.

Working-order arrays (one slot per working order; all int64 unless noted):
    instr, side (+1/-1), otype (OT_*), price f8, trigger f8, leaves, after_seq, triggered (0/1).
Each instrument's slots form a chain in slot order: `first_slot[k]` (-1: none) and `next_slot[o]`
(-1: the last), so a tick visits only the orders of its own instrument; a walk unlinks the dead
slots it meets (`last_slot[k]`: the chain's end).
State `clock` int64[2]: [0] seq of the last tick matched (ticks at or before it are skipped, which
makes re-feeding ticks after a restart harmless), [1] its ts_event_ns.
Output events (ev_* arrays, at least 2 * n + 2 long, which the kernel can never overflow: each order
triggers at most once and fills at most once on the one tick the kernel stops at):
    ev_kind (EV_FILL / EV_TRIGGER), ev_slot, ev_qty, ev_price f8, ev_tick (index into ticks).
Complexity O((stop - start) + ticks_outside_their_band * slots_of_that_instrument).
"""

import numpy as np
from numba import njit

OT_MARKET, OT_LIMIT, OT_SL, OT_SLM = 0, 1, 2, 3
ORDER_TYPE_CODES = {"MARKET": OT_MARKET, "LIMIT": OT_LIMIT, "SL": OT_SL, "SL-M": OT_SLM}
EV_FILL, EV_TRIGGER = 1, 2


# The per-order rules take one order's columns as scalars, not the arrays and a slot: a call that
# passes arrays costs numba a reference-count update per array, even inlined: walking an
# instrument's slots took ~150 ns a slot that way, ~15 ns with scalars.

@njit(cache=True)
def _crossed(side, px, level, eps):
    """A buy limit is met at or below its level, a sell at or above (and the mirror for stops)."""
    if side > 0:
        return px <= level + eps
    return px >= level - eps


@njit(cache=True)
def _fill(px, seq, kind, side, price, trigger, leaves, after_seq, triggered, tick_size,
          slippage_ticks, max_fill):
    """(fill qty, fill price, newly triggered) for one order (its columns) on one tick."""
    if leaves <= 0 or seq <= after_seq:
        return 0, 0.0, False
    eps = tick_size * 1e-6
    fresh = False
    if (kind == OT_SL or kind == OT_SLM) and triggered == 0:
        # A stop triggers when the price moves through it against the resting side.
        if not _crossed(-side, px, trigger, eps):
            return 0, 0.0, False
        fresh = True
    qty = leaves if max_fill <= 0 else min(leaves, max_fill)
    if kind == OT_MARKET or kind == OT_SLM:
        return qty, px + side * slippage_ticks * tick_size, fresh
    if _crossed(side, px, price, eps):
        return qty, price, fresh
    return 0, 0.0, fresh


@njit(cache=True)
def _match_one(o, px, seq, otype, side, price, trigger, leaves, after_seq, triggered,
               tick_size, slippage_ticks, max_fill):
    """(fill qty, fill price, newly triggered) for slot `o` on one tick; marks it triggered."""
    qty, fill_px, fresh = _fill(px, seq, otype[o], side[o], price[o], trigger[o], leaves[o],
                                after_seq[o], triggered[o], tick_size, slippage_ticks, max_fill)
    if fresh:
        triggered[o] = 1
    return qty, fill_px, fresh


@njit(cache=True)
def _quiet_band(kind, side, price, trigger, leaves, triggered, tick_size):
    """(lo, hi): one order (its columns) neither fills nor triggers on a price with
    lo < price < hi (whatever the tick's seq). The bounds are _crossed's own `level ± eps`, so the
    test is its exact negation."""
    if leaves <= 0:
        return -np.inf, np.inf
    eps = tick_size * 1e-6
    if (kind == OT_SL or kind == OT_SLM) and triggered == 0:
        if side < 0:                      # a sell stop triggers at or below its trigger
            return trigger + eps, np.inf
        return -np.inf, trigger - eps
    if kind == OT_MARKET or kind == OT_SLM:
        return np.inf, -np.inf            # fills on any price
    if side > 0:                          # a buy limit fills at or below its price
        return price + eps, np.inf
    return -np.inf, price - eps


@njit(cache=True)
def match_ticks(ticks, start, stop, instr, side, otype, price, trigger, leaves, after_seq,
                triggered, first_slot, next_slot, last_slot, band, tick_size, slippage_ticks,
                max_fill, clock, ev_kind, ev_slot, ev_qty, ev_price, ev_tick):
    """Match ticks[start:stop]; stop after the first tick that fills or triggers a stop. Returns
    (index, n_events).

    `index` is that tick's index (fully matched), or `stop` when nothing filled or triggered. A
    trigger stops the scan too: the engine must cancel the stop's target before the next tick, or
    a turn back through both fills the two exits of one position. `leaves` and
    `triggered` are updated in place; the caller records the events and retires filled slots.
    `band[k]` = (lo, hi, valid): no order of instrument k can fill or trigger on a price strictly
    between lo and hi. The caller keeps it so, or invalidates it (valid 0), when it changes one of
    k's slots (WorkingOrders.track); a tick that walks k's chain computes it again from what the
    slots are after that tick.
    A walk also unlinks the dead slots it meets from the chain (`last_slot[k]` follows when the
    chain's end goes), so each dead slot is stepped over once, not on every walk until a rebuild.
    """
    n_ev = 0
    for t in range(start, stop):
        tick = ticks[t]
        if tick["seq"] <= clock[0]:
            continue
        clock[0] = tick["seq"]
        clock[1] = tick["ts_event_ns"]
        k = tick["instrument"]
        if k >= first_slot.shape[0]:
            continue
        if band[k, 2] != 0 and band[k, 0] < tick["price"] < band[k, 1]:
            continue
        lo, hi = -np.inf, np.inf
        prev = -1
        o = first_slot[k]
        while o >= 0:        # the instrument's slots, in slot order
            nxt = next_slot[o]
            if instr[o] != k:      # a dead slot: off the chain
                if prev < 0:
                    first_slot[k] = nxt
                else:
                    next_slot[prev] = nxt
                if nxt < 0:
                    last_slot[k] = prev
            else:
                qty, px, fresh = _fill(tick["price"], tick["seq"], otype[o], side[o], price[o],
                                       trigger[o], leaves[o], after_seq[o], triggered[o],
                                       tick_size[k], slippage_ticks, max_fill)
                if fresh:
                    triggered[o] = 1
                if qty > 0 or fresh:
                    ev_kind[n_ev] = EV_FILL if qty > 0 else EV_TRIGGER
                    ev_qty[n_ev] = qty
                    ev_price[n_ev] = px if qty > 0 else tick["price"]
                    ev_slot[n_ev] = o
                    ev_tick[n_ev] = t
                    n_ev += 1
                if qty > 0:
                    leaves[o] -= qty
                o_lo, o_hi = _quiet_band(otype[o], side[o], price[o], trigger[o], leaves[o],
                                         triggered[o], tick_size[k])
                lo, hi = max(lo, o_lo), min(hi, o_hi)
                prev = o
            o = nxt
        band[k, 0], band[k, 1], band[k, 2] = lo, hi, 1.0
        if n_ev > 0:
            return t, n_ev
    return stop, n_ev


# The kernel's band rule as plain Python, for WorkingOrders._narrow_band: one definition of it.
_quiet_band_py = _quiet_band.py_func


class WorkingOrders:
    """The kernel's view of the working orders: parallel arrays, one slot per order, kept in step
    with the book one order at a time (`track`), never rebuilt per tick or per order.

    Slot order is placement order, which is the matching priority: a new order takes the next slot
    at the end, and a final one leaves a dead slot behind (instr -1, leaves 0: the kernel skips it)
    rather than moving the others. When dead slots outnumber live ones the arrays are compacted by
    a rebuild from the book, which keeps that same relative order, so matching never depends on
    when compaction happened. `slot_orders[slot]` is the order in a slot (None when dead). Each
    instrument's slots are chained (`first_slot`, `next_slot`, `_last_slot`: the chain's end, where
    a new slot is linked); a dead slot stays on its chain until a walk of it or the rebuild. `band`
    is the kernel's quiet band per instrument (see match_ticks), kept exact as slots change (see
    track).

    `tick_size` (float64 per instrument, the one `match` is given) lets track narrow a valid band
    by a new order's own band; without it a new order invalidates its instrument's band.
    """

    # The kernel's columns, one slot per order, (re)allocated by _alloc.
    instr: np.ndarray
    side: np.ndarray
    otype: np.ndarray
    price: np.ndarray
    trigger: np.ndarray
    leaves: np.ndarray
    after_seq: np.ndarray
    triggered: np.ndarray
    next_slot: np.ndarray

    def __init__(self, n_instruments: int, tick_size: np.ndarray | None = None):
        self.n = 0
        self.dead = 0
        self.slot_orders: list = []
        self.first_slot = np.full(max(1, n_instruments), -1, np.int64)
        self._last_slot = np.full(max(1, n_instruments), -1, np.int64)
        self.band = np.zeros((max(1, n_instruments), 3), np.float64)    # lo, hi, valid
        # as Python floats, for _narrow_band (the same float64 values the kernel is given)
        self._tick_size = None if tick_size is None else tick_size.tolist()
        self._alloc(16)

    def _alloc(self, cap: int) -> None:
        old = getattr(self, "instr", None)
        columns = {"instr": np.int64, "side": np.int64, "otype": np.int64, "price": np.float64,
                   "trigger": np.float64, "leaves": np.int64, "after_seq": np.int64,
                   "triggered": np.int64, "next_slot": np.int64}
        for name, dtype in columns.items():
            column = np.zeros(cap, dtype)
            if old is not None:
                column[:self.n] = getattr(self, name)[:self.n]     # growing keeps every slot
            setattr(self, name, column)
        self.ev_kind = np.zeros(2 * cap + 2, np.int64)
        self.ev_slot = np.zeros(2 * cap + 2, np.int64)
        self.ev_qty = np.zeros(2 * cap + 2, np.int64)
        self.ev_price = np.zeros(2 * cap + 2, np.float64)
        self.ev_tick = np.zeros(2 * cap + 2, np.int64)

    def track(self, order, live: bool, *, matched: bool = False) -> bool:
        """One order changed: give it a slot, refresh its slot, or retire it. Returns
        needs_compaction() (only a retirement can make it true).

        The instrument's band stays exact without a walk of its chain where that is cheap: a new
        order narrows it by the order's own band (the band is an intersection), and a change the
        kernel made itself (`matched`: a fill or trigger it found) leaves it as the kernel just
        computed it from the slots' new state. Any other change (a modify, a cancel) invalidates
        it; a refused placement never had a slot and changes nothing.
        """
        o = order.slot
        k = order.instrument
        if live:
            if o < 0:
                if self.n == self.instr.shape[0]:
                    self._alloc(2 * self.n)
                o = order.slot = self.n
                self.slot_orders.append(order)
                self._link(k, o)
                self.n += 1
                self._write(order, o)
                self._narrow_band(order, k)
                return False
            self._write(order, o)
            if not matched:
                self.band[k, 2] = 0.0
            return False
        if o < 0:
            return False
        order.slot = -1
        self.instr[o], self.leaves[o] = -1, 0
        self.slot_orders[o] = None
        self.dead += 1
        if not matched:
            self.band[k, 2] = 0.0
        return self.needs_compaction()

    def _narrow_band(self, order, k: int) -> None:
        """Instrument k's band after a new live order joined it: a valid band intersected with the
        order's own (the kernel's rule run as Python, same floats), else still invalid."""
        band = self.band
        if not band[k, 2]:
            return
        if self._tick_size is None:
            band[k, 2] = 0.0
            return
        lo, hi = _quiet_band_py(ORDER_TYPE_CODES[order.order_type], order.side, order.price,
                                order.trigger_price, order.qty - order.filled_qty,
                                1 if order.triggered else 0, self._tick_size[k])
        if lo > band[k, 0]:
            band[k, 0] = lo
        if hi < band[k, 1]:
            band[k, 1] = hi

    def _link(self, k: int, o: int) -> None:
        """Slot `o` joins the end of instrument `k`'s chain."""
        self.next_slot[o] = -1
        last = self._last_slot[k]
        if last < 0:
            self.first_slot[k] = o
        else:
            self.next_slot[last] = o
        self._last_slot[k] = o

    def needs_compaction(self) -> bool:
        return self.dead > 32 and 2 * self.dead > self.n

    def _write(self, order, o: int) -> None:
        """Slot `o` takes a live order's current state (so its leaves are qty - filled_qty)."""
        self.instr[o], self.side[o] = order.instrument, order.side
        self.otype[o] = ORDER_TYPE_CODES[order.order_type]
        self.price[o], self.trigger[o] = order.price, order.trigger_price
        self.leaves[o], self.after_seq[o] = order.qty - order.filled_qty, order.after_seq
        self.triggered[o] = 1 if order.triggered else 0

    def rebuild(self, orders: list) -> None:
        """Load `orders` (objects with instrument, side, order_type, price, trigger_price, leaves,
        after_seq, triggered, slot) into slots 0..len-1, column by column; no dead slots after
        it."""
        n = len(orders)
        for order in self.slot_orders:
            if order is not None:
                order.slot = -1
        self.n = 0
        if n > self.instr.shape[0]:
            self._alloc(2 * n)
        for o, order in enumerate(orders):
            order.slot = o
        instr = [order.instrument for order in orders]
        self.instr[:n] = instr
        self.side[:n] = [order.side for order in orders]
        self.otype[:n] = [ORDER_TYPE_CODES[order.order_type] for order in orders]
        self.price[:n] = [order.price for order in orders]
        self.trigger[:n] = [order.trigger_price for order in orders]
        self.leaves[:n] = [order.leaves for order in orders]
        self.after_seq[:n] = [order.after_seq for order in orders]
        self.triggered[:n] = [1 if order.triggered else 0 for order in orders]
        self.first_slot[:] = -1
        self._last_slot[:] = -1
        self.band[:, 2] = 0.0
        for o, k in enumerate(instr):
            self._link(k, o)
        self.slot_orders = list(orders)
        self.n, self.dead = n, 0

    def match(self, ticks, start, stop, tick_size, slippage_ticks, max_fill, clock):
        return match_ticks(ticks, start, stop, self.instr, self.side, self.otype, self.price,
                           self.trigger, self.leaves, self.after_seq, self.triggered,
                           self.first_slot, self.next_slot, self._last_slot, self.band, tick_size,
                           slippage_ticks, max_fill, clock, self.ev_kind, self.ev_slot,
                           self.ev_qty, self.ev_price, self.ev_tick)
