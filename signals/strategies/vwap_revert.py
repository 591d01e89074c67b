"""A second strategy: fade a stretch away from the session VWAP, targeting the VWAP.

Each tick advances the instrument's session VWAP (kernels/vwap.py). Once the session has seen
`min_session_ticks` ticks (so that the VWAP means something), the price is in one of three zones:
more than `band_pct` % below the VWAP (-1), more than `band_pct` % above it (+1), or within the band
(0). Entering the lower zone raises a BUY intent, entering the upper zone a SELL intent (only when
`allow_short`): one intent per entry into a zone, not one per tick in it. The bracket's target is
the VWAP at the time of the intent and its stop `stop_loss_pct` beyond the price, both on the tick
grid, rounded away from the entry (kernels/bracket.py). A new IST session resets the VWAP, the tick
count and the zone.

This is the worked example of adding a strategy (signals/strategy.py): a Params struct (the kernel's
params record is derived from it), a state dtype, an `_advance` step, the standard kernel skeleton,
and one line in strategies/__init__.py.
"""


import numpy as np
from numba import njit

from config.schema import VWAPRevertParams  # params live in config (defaults in one place)
from signals.kernels.bracket import bracket_exits, limit_entry, round_down, round_up
from signals.kernels.commit import begin_tick, commit_tick, slot_of
from signals.kernels.digest import KERNEL_DIGEST
from signals.kernels.vwap import VWAP_FIELDS, vwap_step
from signals.outbox import ORDER_LIMIT, ORDER_TYPE_CODES, emit_intent
from signals.strategy import STAT_APPLIED, STAT_OUTBOX_FULL, STAT_REPLAYED, Strategy

REASON_BELOW_BAND = 1
REASON_ABOVE_BAND = 2


STATE_DTYPE = np.dtype([
    ("session_ticks", np.int64),  # ticks applied this session
    ("zone", np.int64),           # -1 below the band, 0 inside, +1 above
] + VWAP_FIELDS)  # after our own fields: see kernels/vwap.py


@njit
def _advance(st, row, p):
    """Apply one tick; returns (side of the intent to raise or 0, the session VWAP)."""
    day = st["vwap_day"]
    vwap = vwap_step(st, row["ts_event_ns"], row["price"], row["qty"], row["flags"])
    if st["vwap_day"] != day:
        st["session_ticks"] = 0
        st["zone"] = 0
    st["session_ticks"] += 1
    if not vwap > 0.0 or st["session_ticks"] < p["min_session_ticks"]:
        return 0, vwap
    band = vwap * p["band_pct"] / 100.0
    price = row["price"]
    zone = 0
    if price < vwap - band:
        zone = -1
    elif price > vwap + band:
        zone = 1
    entered = zone != 0 and zone != st["zone"]
    st["zone"] = zone
    if not entered or (zone > 0 and p["allow_short"] == 0):
        return 0, vwap
    return -zone, vwap


@njit
def _emit(outbox, cursor, row, strategy, side, vwap, p, tick_size):
    price = row["price"]
    stop, _ = bracket_exits(side, price, tick_size, p["stop_loss_pct"], 0.0)
    target = round_up(vwap, tick_size) if side > 0 else round_down(vwap, tick_size)
    limit = 0.0
    if p["order_type"] == ORDER_LIMIT:
        limit = limit_entry(side, price, tick_size, p["limit_offset_ticks"])
    reason = REASON_BELOW_BAND if side > 0 else REASON_ABOVE_BAND
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
            side, vwap = _advance(copies[slot, copy], row, p)
            if side != 0 and not _emit(outbox, cursor, row, strategy, side, vwap, p,
                                       tick_size[row["instrument"]]):
                stats[STAT_OUTBOX_FULL] += 1
                return i
            commit_tick(commit, slot, row["seq"], copy)
            stats[STAT_APPLIED] += 1
        return rows.shape[0]

    return on_ticks


class VWAPRevert(Strategy):
    """Session-VWAP reversion (module docstring)."""

    kind = "vwap_revert"
    Params = VWAPRevertParams
    CODES = {"order_type": ORDER_TYPE_CODES}
    STATE_DTYPE = STATE_DTYPE
    REASONS = {
        REASON_BELOW_BAND: "price below the VWAP band",
        REASON_ABOVE_BAND: "price above the VWAP band",
    }
    kernel = staticmethod(build(KERNEL_DIGEST))
