"""Pre-trade risk: one numba kernel that returns a reason code, never raises.

`check_entry` judges a new entry (an intent that would open or add to a position) against the limits
(orders/limits.py), the instrument's rules and the engine's own state as of the intent's tick. It
returns 0 when approved, else the code of the FIRST check that failed, in the order of `REASONS`
below. A denial is an OrderDenied event carrying the code and `describe()`'s text; exits (stop,
target, square-off, flatten) are never sent through this check: they reduce risk and are allowed in
every trading state (the throttle defers them, it never drops them).

Inputs: `params` is a RISK_PARAMS_DTYPE row array; `req` a CHECK_DTYPE row array (the intent plus
the context the engine computed: trading state, session phase, exposure, open orders, throttle
counts); the per-instrument arrays are indexed by the tick's `instrument`. Prices are rupees, times
ns, quantities units. O(1). Imports numpy, numba and common/ only.
"""

import numpy as np
from numba import njit

from common.pricegrid import off_tick
from common.pricegrid import round_nearest as round_to_tick  # noqa: F401  (the name risk's users know)
from common.tradingstate import TradingState

# The kernel's copies of common.tradingstate's codes: numba freezes a global as a compile-time
# constant of its type, and plain ints keep the cached kernel's signature free of enum types.
_REDUCING, _HALTED = int(TradingState.REDUCING), int(TradingState.HALTED)


_STATE_CODES = {name: int(state) for name, state in TradingState.__members__.items()}


def _code_of(state: str) -> int:
    """The kernel's code for a state name; a name that is not a state is judged HALTED, so a typo
    never lets an entry through."""
    return _STATE_CODES.get(state, _HALTED)    # plain ints: no enum lookup per intent


# code -> (name, what it means). The kernel checks in this order and reports the first failure.
REASONS = {
    0: ("APPROVED", "approved"),
    1: ("DUPLICATE_INTENT", "this intent id was already handled"),
    2: ("BAD_ORDER", "side, quantity, order type or limit price is invalid"),
    3: ("UNKNOWN_INSTRUMENT", "no such instrument"),
    4: ("HALTED", "trading is halted: no new entries"),
    5: ("REDUCING_ONLY", "trading is reducing: no new entries"),
    6: ("DAILY_LOSS_LIMIT", "the daily loss limit is breached"),
    7: ("OUTSIDE_SESSION", "outside market hours"),
    8: ("AFTER_ENTRY_CUTOFF", "after the entry cut-off"),
    9: ("STALE_DATA", "the instrument's last tick is too old (or there is none)"),
    10: ("QTY_NOT_LOT_MULTIPLE", "quantity is not a multiple of the lot size"),
    11: ("QTY_ABOVE_MAX", "quantity above max_order_qty"),
    12: ("ABOVE_FREEZE_QTY", "quantity above the exchange freeze quantity"),
    13: ("PRICE_NOT_TICK_MULTIPLE", "limit price is not a multiple of the tick size"),
    14: ("PRICE_OFF_BAND", "limit price too far from the last traded price"),
    15: ("PRICE_OUTSIDE_CIRCUIT", "limit price outside the circuit limits"),
    16: ("BAD_BRACKET", "stop-loss or target on the wrong side of the price"),
    17: ("NOTIONAL_ABOVE_MAX", "order value above max_order_notional_inr"),
    18: ("POSITION_LIMIT", "position would exceed max_position_qty"),
    19: ("GROSS_EXPOSURE", "gross exposure would exceed max_gross_exposure_inr"),
    20: ("MAX_OPEN_ORDERS", "too many open orders"),
    21: ("RATE_PER_SEC", "order rate limit per second reached"),
    22: ("RATE_PER_MIN", "order rate limit per minute reached"),
    23: ("RATE_PER_DAY", "order rate limit per day reached"),
    24: (
        "INTENT_EXPIRED",
        "the intent is older than max_intent_age_ms when it could first be acted on",
    ),
    25: (
        "BRACKET_OPEN",
        "this strategy already has max_brackets_per_instrument brackets open on the instrument",
    ),
}
CODES = {name: code for code, (name, _) in REASONS.items()}
APPROVED = 0
_ORDER_TYPES = {"MARKET": 0, "LIMIT": 1}

# Session phases as orders/limits.py numbers them.
_PRE_OPEN, _OPEN, _CLOSED = 0, 1, 4

CHECK_DTYPE = np.dtype([
    ("side", np.int64), ("qty", np.int64), ("is_limit", np.int64),   # is_limit -1: unknown type
    ("limit_price", np.float64), ("stop_loss", np.float64), ("target", np.float64),
    ("instrument", np.int64), ("duplicate", np.int64), ("trading_state", np.int64),
    ("phase", np.int64), ("clock_ns", np.int64), ("n_slices", np.int64),
    ("open_orders", np.int64), ("rate_sec", np.int64), ("rate_min", np.int64),
    ("rate_day", np.int64), ("pos_qty", np.int64), ("pending_buy", np.int64),
    ("pending_sell", np.int64), ("gross_exposure_inr", np.float64),
    ("pending_gross_inr", np.float64), ("day_pnl_inr", np.float64),
    ("intent_ts_ns", np.int64),          # the intent's tick time; 0 = unknown (no age check)
    ("open_brackets", np.int64),         # the intent's strategy's active brackets on its instrument
])


@njit(cache=True)
def _state_and_session(p, r):
    if r["trading_state"] == _HALTED:
        return 4
    if r["trading_state"] == _REDUCING:
        return 5
    if r["day_pnl_inr"] <= -p["daily_loss_limit_inr"]:
        return 6
    if r["phase"] == _PRE_OPEN or r["phase"] == _CLOSED:
        return 7
    if r["phase"] != _OPEN:
        return 8
    return 0


@njit(cache=True)
def _prices(r, ltp, tick, circ_lo, circ_hi, band_pct):
    ref = ltp
    limit = r["limit_price"]
    if r["is_limit"] == 1:
        if off_tick(limit, tick):
            return 13
        if abs(limit - ltp) > ltp * band_pct / 100.0:
            return 14
        if circ_hi > 0.0 and (limit > circ_hi or limit < circ_lo):
            return 15
        ref = limit
    # The legs must sit on either side of where the entry executes.
    stop, target = r["stop_loss"], r["target"]
    if r["side"] > 0:
        if (stop > 0.0 and stop >= ref) or (target > 0.0 and target <= ref):
            return 16
    elif (stop > 0.0 and stop <= ref) or (target > 0.0 and target >= ref):
        return 16
    return 0


@njit(cache=True)
def _exposure(p, r, ref):
    if r["qty"] * ref > p["max_order_notional_inr"]:
        return 17
    if r["side"] > 0:
        worst = r["pos_qty"] + r["pending_buy"] + r["qty"]
    else:
        worst = r["pos_qty"] - r["pending_sell"] - r["qty"]
    if abs(worst) > p["max_position_qty"]:
        return 18
    gross = r["gross_exposure_inr"] + r["pending_gross_inr"] + r["qty"] * ref
    if gross > p["max_gross_exposure_inr"]:
        return 19
    if r["open_orders"] + r["n_slices"] > p["max_open_orders"]:
        return 20
    if r["rate_sec"] + r["n_slices"] > p["rate_per_sec"]:
        return 21
    if r["rate_min"] + r["n_slices"] > p["rate_per_min"]:
        return 22
    if r["rate_day"] + r["n_slices"] > p["rate_per_day"]:
        return 23
    return 0


@njit(cache=True)
def check_entry(params, req, tick_size, lot_size, freeze_qty, circuit_lo, circuit_hi, last_price,
                last_ts_ns):
    """Reason code for the entry in req[0] (0 = approved). See the module docstring."""
    p = params[0]
    r = req[0]
    if r["duplicate"] != 0:
        return 1
    if (r["side"] != 1 and r["side"] != -1) or r["qty"] <= 0 or r["is_limit"] < 0 or \
            (r["is_limit"] == 1 and not r["limit_price"] > 0.0):
        return 2
    k = r["instrument"]
    if k < 0 or k >= tick_size.shape[0]:
        return 3
    code = _state_and_session(p, r)
    if code != 0:
        return code
    ltp = last_price[k]
    if last_ts_ns[k] == 0 or not ltp > 0.0 or r["clock_ns"] - last_ts_ns[k] > p["stale_tick_ns"]:
        return 9
    if lot_size[k] > 1 and r["qty"] % lot_size[k] != 0:
        return 10
    if r["qty"] > p["max_order_qty"]:
        return 11
    if freeze_qty[k] > 0 and r["qty"] > freeze_qty[k] and p["freeze_slice"] == 0:
        return 12
    code = _prices(r, ltp, tick_size[k], circuit_lo[k], circuit_hi[k], p["price_band_pct"])
    if code != 0:
        return code
    # Before the exposure checks: a second bracket of the same strategy on a name is refused for
    # what it is, not for the position or open-order limit its stacking would reach later.
    if (
        p["max_brackets_per_instrument"] > 0
        and r["open_brackets"] >= p["max_brackets_per_instrument"]
    ):
        return 25
    ref = r["limit_price"] if r["is_limit"] == 1 else ltp
    code = _exposure(p, r, ref)
    if code != 0:
        return code
    # Never late: an intent reaching risk long after its tick (a backlog, a restart) is not sent.
    if r["intent_ts_ns"] > 0 and r["clock_ns"] - r["intent_ts_ns"] > p["max_intent_age_ns"]:
        return 24
    return 0


def reason_name(code: int) -> str:
    return REASONS.get(int(code), (f"UNKNOWN_{code}", ""))[0]


def describe(code: int, **facts) -> str:
    """Human text for a denial: the reason, then the numbers that made it (for logs and reports)."""
    name, text = REASONS.get(int(code), (f"UNKNOWN_{code}", "unknown reason"))
    detail = ", ".join(f"{k}={v}" for k, v in facts.items())
    return f"{name}: {text}" + (f" ({detail})" if detail else "")


class RiskGate:
    """Builds the kernel's inputs from the engine's state and runs `check_entry` for one intent.

    Parameters
    ----------
    limits : orders.limits.RiskLimits.
    instruments : INSTRUMENT_DTYPE rows; circuit limits start unknown (0) until
    `set_circuit_limits`.
    """

    def __init__(self, limits, instruments):
        self.limits = limits
        n = max(1, len(instruments))
        self.tick_size = np.ones(n, np.float64)
        self.lot_size = np.ones(n, np.int64)
        self.freeze_qty = np.zeros(n, np.int64)
        self.tick_size[:len(instruments)] = instruments["tick_size"]
        self.lot_size[:len(instruments)] = instruments["lot_size"]
        self.freeze_qty[:len(instruments)] = instruments["freeze_qty"]
        self.circuit_lo = np.zeros(n, np.float64)
        self.circuit_hi = np.zeros(n, np.float64)
        self._n = len(instruments)
        self._exchanges = [e.decode() for e in instruments["exchange"]]
        self._req = np.zeros(1, CHECK_DTYPE)

    def set_circuit_limits(self, instrument: int, lower: float, upper: float) -> None:
        """The day's circuit limits (Kite quote's lower/upper_circuit_limit); 0, 0 = unknown."""
        self.circuit_lo[instrument] = lower
        self.circuit_hi[instrument] = upper

    def n_slices(self, instrument: int, qty: int) -> int:
        freeze = int(self.freeze_qty[instrument]) if 0 <= instrument < self._n else 0
        if freeze <= 0 or qty <= freeze or not self.limits.slices_above_freeze:
            return 1
        return -(-qty // freeze)

    def check(self, intent, *, duplicate: bool, trading_state: str, phase: int, clock_ns: int,
              book, exposure, throttle, reachable: tuple[int, int] = (0, 0),
              open_brackets: int = 0) -> tuple[int, dict]:
        """(reason code, facts for the denial text) for one SignalRaised; never raises.

        `reachable` is how far the orders already working or planned on the intent's instrument can
        move its position (up, down): `BracketDesk.reachable`. The position limit is judged on the
        position plus that plus this entry, so it holds whichever of them fill. `open_brackets` is
        how many brackets of the intent's strategy on its instrument are still active.
        """
        k = int(intent.instrument)
        known = 0 <= k < self._n
        pending_buy, pending_sell = reachable
        pending_gross = self._pending_gross(book, exposure)
        pos_qty = int(exposure.pos_qty[k]) if known else 0
        day_pnl = exposure.day_pnl()
        # One tuple store in CHECK_DTYPE field order: a field-by-field fill costs ten times more.
        self._req[0] = (
            intent.side, intent.qty, _ORDER_TYPES.get(intent.order_type, -1), intent.limit_price,
            intent.stop_loss, intent.target, k if known else -1, 1 if duplicate else 0,
            _code_of(trading_state), phase, clock_ns,
            self.n_slices(k, intent.qty) if known else 1, book.n_working,
            *throttle.counts(clock_ns, self._exchanges[k] if known else ""), pos_qty, pending_buy,
            pending_sell,
            exposure.gross_exposure(), pending_gross, day_pnl, intent.ts_event_ns, open_brackets)
        code = int(check_entry(self.limits.params, self._req, self.tick_size, self.lot_size,
                               self.freeze_qty, self.circuit_lo, self.circuit_hi,
                               exposure.last_price, exposure.last_ts))
        if code == APPROVED:
            return code, {}
        ltp = float(exposure.last_price[k]) if known else 0.0
        facts = {"qty": intent.qty, "ltp": ltp, "limit_price": intent.limit_price,
                 "position": pos_qty, "day_pnl_inr": round(day_pnl, 2)}
        if code == CODES["BRACKET_OPEN"]:
            facts["open_brackets"] = open_brackets
        return code, facts

    @staticmethod
    def _pending_gross(book, exposure) -> float:
        """What working entries would add to the gross exposure, rupees."""
        gross = 0.0
        for o in book.working_entries():
            px = o.price if o.price > 0 else exposure.last_price.item(o.instrument)
            gross += o.leaves * px
        return gross
