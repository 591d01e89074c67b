"""Risk limits in the shape the numba risk kernel reads, and the trading day's session phases.

`RiskLimits.from_config(config.risk)` turns the validated config section into one structured numpy
row (`params`, RISK_PARAMS_DTYPE) for `orders/risk.py`, and knows the IST session boundaries:

    phase        from           until          entries  exits  what the engine does
    PRE_OPEN     00:00          session_start  denied   yes    nothing
    OPEN         session_start  entry_cutoff   allowed  yes    normal trading
    NO_ENTRY     entry_cutoff   square_off     denied   yes    brackets keep managing exits
    SQUARE_OFF   square_off     session_end    denied   yes    cancel working orders, close all
    CLOSED       session_end    24:00          denied   yes    as SQUARE_OFF (nothing should remain)

Every time is judged on the market clock (the ticks' ts_event_ns). With enforce_session false the
whole day is OPEN (for simulations run at any hour). Imports numpy, the standard library and
`common.clock`.
"""

from dataclasses import dataclass

import numpy as np

from common.clock import NS_PER_S, SECONDS_PER_DAY, ist_midnight_ns, ist_time_of_day_s, parse_hhmm

PHASE_PRE_OPEN, PHASE_OPEN, PHASE_NO_ENTRY, PHASE_SQUARE_OFF, PHASE_CLOSED = 0, 1, 2, 3, 4
PHASE_NAMES = ("PRE_OPEN", "OPEN", "NO_ENTRY", "SQUARE_OFF", "CLOSED")

RISK_PARAMS_DTYPE = np.dtype([
    ("max_order_qty", np.int64),
    ("max_order_notional_inr", np.float64),
    ("max_position_qty", np.int64),
    ("max_gross_exposure_inr", np.float64),
    ("max_open_orders", np.int64),
    ("rate_per_sec", np.int64),
    ("rate_per_min", np.int64),
    ("rate_per_day", np.int64),
    ("price_band_pct", np.float64),
    ("stale_tick_ns", np.int64),
    ("daily_loss_limit_inr", np.float64),
    ("freeze_slice", np.int64),          # 1: slice above the freeze quantity, 0: deny
    ("max_intent_age_ns", np.int64),
    ("max_brackets_per_instrument", np.int64),   # per strategy; 0: no limit
])


@dataclass(frozen=True)
class RiskLimits:
    """Parameters mirror config.risk (see config/schema.py for units and defaults)."""

    max_order_qty: int = 100
    max_order_notional_inr: float = 200_000.0
    max_position_qty: int = 500
    max_gross_exposure_inr: float = 1_000_000.0
    max_open_orders: int = 50
    rate_per_sec: int = 10
    rate_per_min: int = 400
    rate_per_day: int = 5000
    price_band_pct: float = 5.0
    stale_tick_ms: int = 5000
    daily_loss_limit_inr: float = 10_000.0
    freeze_action: str = "slice"
    session_start: str = "09:15"
    entry_cutoff: str = "15:00"
    square_off: str = "15:10"
    session_end: str = "15:30"
    enforce_session: bool = True
    leg_prices: str = "fill"          # stop and target from the entry's fill, or "signal"
    max_intent_age_ms: int = 2000     # market time from an intent's tick to its risk check
    venue_rate_per_sec: int = 0       # placements a second per exchange/segment (0: not limited)
    max_brackets_per_instrument: int = 0   # a strategy's open brackets on one instrument (0: no limit)

    @classmethod
    def from_config(cls, risk) -> "RiskLimits":
        """From config.risk (a `config.schema.RiskConfig`, or anything with the same fields)."""
        return cls(**{name: getattr(risk, name) for name in cls.__dataclass_fields__})

    def __post_init__(self):
        # Seconds since IST midnight of each boundary, in phase order.
        bounds = tuple(parse_hhmm(t) for t in (self.session_start, self.entry_cutoff,
                                               self.square_off, self.session_end))
        object.__setattr__(self, "boundaries_s", bounds)
        params = np.zeros(1, RISK_PARAMS_DTYPE)
        for name in RISK_PARAMS_DTYPE.names:
            if name == "stale_tick_ns":
                params[0][name] = self.stale_tick_ms * 1_000_000
            elif name == "max_intent_age_ns":
                params[0][name] = self.max_intent_age_ms * 1_000_000
            elif name == "freeze_slice":
                params[0][name] = 1 if self.freeze_action == "slice" else 0
            else:
                params[0][name] = getattr(self, name)
        object.__setattr__(self, "params", params)

    @property
    def slices_above_freeze(self) -> bool:
        return self.freeze_action == "slice"

    def phase(self, ts_ns: int) -> int:
        """The session phase (PHASE_*) at market time `ts_ns`."""
        if not self.enforce_session:
            return PHASE_OPEN
        tod = ist_time_of_day_s(ts_ns)
        phase = PHASE_PRE_OPEN
        for bound in self.boundaries_s:
            if tod >= bound:
                phase += 1
        return phase

    def next_boundary_ns(self, ts_ns: int) -> int:
        """Market time of the next phase boundary strictly after `ts_ns` (tomorrow's start at the
        latest); a far-future time when sessions are not enforced."""
        if not self.enforce_session:
            return (1 << 63) - 1
        midnight = ist_midnight_ns(ts_ns)
        for bound in self.boundaries_s:
            at = midnight + bound * NS_PER_S
            if at > ts_ns:
                return at
        return midnight + (SECONDS_PER_DAY + self.boundaries_s[0]) * NS_PER_S
