"""The default strategy: a fast and a slow moving average (SMA or EMA) crossing.

On each tick of a traded instrument both averages advance; once both are warm (`slow` prices seen),
a cross of fast above slow raises a BUY intent and a cross below raises a SELL intent (only when
`allow_short`; otherwise a bearish cross raises nothing and the open long leaves through its own
stop, target or the day's square-off). Every intent opens a bracket of `qty` shares: a MARKET or
LIMIT entry (LIMIT: `limit_offset_ticks` through the last price), a stop `stop_loss_pct` and a
target `target_pct` away from the tick's price, on the tick grid (kernels/bracket.py). The strategy
does not track its fills: two crosses are two brackets; orders and risk decide what they become
(risk's max_brackets_per_instrument denies a second bracket while the first is open: BRACKET_OPEN).

`one_trade` (one trade at a time per instrument): after an intent, the strategy holds that trade
until a tick trades at or through its stop or its target (the prices it put in the intent), and a
cross before then raises nothing. It is the strategy's own rule, decided on the ticks alone, so a
cross it skips is no signal at all (no intent, no denial): on a few ticks a second EMAs whipsaw
around each other every minute or so per name, and a trader in a trade does not want a second one
on each whipsaw. The crosses still move `side`, so the first cross after the exit is a real one.
The real bracket at orders exits on the same ticks, give or take its fill (risk's BRACKET_OPEN
catches what this misses). An intent that risk denies still counts as held: the strategy cannot
see denials, and it errs towards fewer trades.

SMA mode keeps one price ring of slow + 1 per instrument, read by both windows (kernels/sma.py);
EMA mode needs no history.

Ties are decided by the documented rules of kernels/crossover.py ("touching is not a cross", "a
cross through equality counts on the tick that completes it") on exact comparisons, never on
rounding noise: two SMAs are compared from their integer sums (prices in 0.0001 ₹ units), so fast ==
slow exactly when the two windows' means are equal; two EMAs are level within EMA_TIE_TICKS (1e-6)
of the instrument's tick: far above their rounding noise, far below any difference a price can make.
"""

import numpy as np
from numba import njit

from config.schema import MACrossoverParams
from signals.kernels.bracket import bracket_exits, limit_entry
from signals.kernels.commit import begin_tick, commit_tick, slot_of
from signals.kernels.crossover import EMA_TIE_TICKS, cross_on, cross_step
from signals.kernels.digest import KERNEL_DIGEST
from signals.kernels.ema import ema_step
from signals.kernels.sma import price_units, sma_compare, sma_step, sma_value
from signals.outbox import ORDER_LIMIT, ORDER_TYPE_CODES, emit_intent
from signals.strategy import STAT_APPLIED, STAT_OUTBOX_FULL, STAT_REPLAYED, Strategy

MA_SMA = 0
MA_EMA = 1
REASON_CROSS_ABOVE = 1
REASON_CROSS_BELOW = 2

STATE_DTYPE = np.dtype([
    ("count", np.int64),      # prices applied
    ("fast_sum", np.int64),   # SMA: the fast window's sum in price units (kernels/sma.py), exact
    ("slow_sum", np.int64),
    ("fast_seed", np.float64),  # EMA: sum of the first `fast` prices, rupees (the EMA's seed)
    ("slow_seed", np.float64),
    ("fast", np.float64),     # current averages, rupees (NaN until warm)
    ("slow", np.float64),
    ("side", np.int64),       # last nonzero sign of fast - slow (kernels/crossover.py)
    ("trade_side", np.int64),     # one_trade: the held trade's side, 0 = none
    ("trade_stop", np.float64),   # its stop and target, rupees
    ("trade_target", np.float64),
])


@njit
def _advance(st, ring, price, p, tick_size):
    """Apply one price to the averages in `st`; returns the crossover signal (+1, -1 or 0).

    SMA: fast and slow are compared exactly, from their integer sums. EMA: level within
    EMA_TIE_TICKS of a tick (kernels/crossover.py).
    """
    count = st["count"]
    pushed = count + 1
    st["count"] = pushed
    if p["ma"] == MA_SMA:
        units = price_units(price)
        fast_sum = sma_step(ring, count, st["fast_sum"], units, p["fast"])
        slow_sum = sma_step(ring, count, st["slow_sum"], units, p["slow"])
        st["fast_sum"] = fast_sum
        st["slow_sum"] = slow_sum
        st["fast"] = sma_value(fast_sum, pushed, p["fast"])
        st["slow"] = sma_value(slow_sum, pushed, p["slow"])
        if pushed < p["slow"]:  # the slow window fills last (fast < slow)
            return 0
        signal, side = cross_on(st["side"], sma_compare(fast_sum, p["fast"], slow_sum, p["slow"]))
    else:
        fast_seed, fast = ema_step(count, st["fast_seed"], st["fast"], price, p["fast"])
        slow_seed, slow = ema_step(count, st["slow_seed"], st["slow"], price, p["slow"])
        st["fast_seed"] = fast_seed
        st["slow_seed"] = slow_seed
        st["fast"] = fast
        st["slow"] = slow
        signal, side = cross_step(st["side"], fast, slow, tick_size * EMA_TIE_TICKS)
    st["side"] = side
    return signal


@njit
def holding(st, price):
    """one_trade: True while the held trade is open; a price at or through its stop or target ends
    it."""
    side = st["trade_side"]
    if side == 0:
        return False
    if side > 0:
        done = price <= st["trade_stop"] or price >= st["trade_target"]
    else:
        done = price >= st["trade_stop"] or price <= st["trade_target"]
    if done:
        st["trade_side"] = 0
    return not done


@njit
def hold(st, side, price, p, tick_size):
    """one_trade: remember the trade an intent at `price` opens (the prices _emit puts in it)."""
    st["trade_side"] = side
    st["trade_stop"], st["trade_target"] = bracket_exits(side, price, tick_size, p["stop_loss_pct"],
                                                         p["target_pct"])


@njit
def _emit(outbox, cursor, row, strategy, side, reason, p, tick_size):
    price = row["price"]
    stop, target = bracket_exits(side, price, tick_size, p["stop_loss_pct"], p["target_pct"])
    limit = 0.0
    if p["order_type"] == ORDER_LIMIT:
        limit = limit_entry(side, price, tick_size, p["limit_offset_ticks"])
    return emit_intent(outbox, cursor, row, strategy, side, p["qty"], p["order_type"], limit, stop,
                       target, reason)


def build(digest):
    """The kernel, closed over the kernel-source digest (kernels/digest.py)."""

    @njit(cache=True)
    def on_ticks(rows, inst_slot, tick_size, params, copies, commit, history, outbox, cursor,
                 strategy, stats):
        if digest < 0:  # never true: the digest is here to key numba's cache
            return 0
        p = params[0]
        for i in range(rows.shape[0]):
            row = rows[i]
            slot = slot_of(inst_slot, row)
            if slot < 0:
                continue
            copy = begin_tick(copies, commit, slot, row["seq"])
            if copy < 0:
                stats[STAT_REPLAYED] += 1
                continue
            tick = tick_size[row["instrument"]]
            st = copies[slot, copy]
            signal = _advance(st, history[slot], row["price"], p, tick)
            side = signal if signal > 0 or p["allow_short"] != 0 else 0
            if p["one_trade"] != 0 and holding(st, row["price"]):
                side = 0
            if side != 0:
                reason = REASON_CROSS_ABOVE if side > 0 else REASON_CROSS_BELOW
                if not _emit(outbox, cursor, row, strategy, side, reason, p, tick):
                    stats[STAT_OUTBOX_FULL] += 1
                    return i
                if p["one_trade"] != 0:
                    hold(st, side, row["price"], p, tick)
            commit_tick(commit, slot, row["seq"], copy)
            stats[STAT_APPLIED] += 1
        return rows.shape[0]

    return on_ticks


class MACrossover(Strategy):
    """Fast/slow moving-average crossover (module docstring)."""

    kind = "ma_crossover"
    Params = MACrossoverParams
    CODES = {"ma": {"sma": MA_SMA, "ema": MA_EMA}, "order_type": ORDER_TYPE_CODES}
    STATE_DTYPE = STATE_DTYPE
    REASONS = {
        REASON_CROSS_ABOVE: "fast crossed above slow",
        REASON_CROSS_BELOW: "fast crossed below slow",
    }
    kernel = staticmethod(build(KERNEL_DIGEST))

    @classmethod
    def history_len(cls, params) -> int:
        return params.slow + 1 if params.ma == "sma" else 1
