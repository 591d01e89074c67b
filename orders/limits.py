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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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


@dataclass(frozen=True, kw_only=True)
class RiskLimits:
    """config.risk as the engine reads it (config/schema.py has every field's unit and default).

    No field has a default here: config.schema.RiskConfig is the one place defaults live, and
    tests/config/test_one_source_of_defaults.py fails if one is added. Build it with `from_config`.
    """

    max_order_qty: int
    max_order_notional_inr: float
    max_position_qty: int
    max_gross_exposure_inr: float
    max_open_orders: int
    rate_per_sec: int
    rate_per_min: int
    rate_per_day: int
    price_band_pct: float
    stale_tick_ms: int
    daily_loss_limit_inr: float
    freeze_action: str
    session_start: str
    entry_cutoff: str
    square_off: str
    session_end: str
    enforce_session: bool
    leg_prices: str                   # stop and target from the entry's fill, or "signal"
    max_intent_age_ms: int            # market time from an intent's tick to its risk check
    venue_rate_per_sec: int           # placements a second per exchange/segment (0: not limited)
    max_brackets_per_instrument: int  # a strategy's open brackets on one instrument (0: no limit)
    if TYPE_CHECKING:
        # Derived in __post_init__, not fields at run time (from_config passes every field).
        boundaries_s: tuple[int, ...] = field(init=False)
        _phase_span: tuple[int, int, int] = field(init=False)   # see `phase`
        params: np.ndarray = field(init=False)          # RISK_PARAMS_DTYPE[1], for the kernel

    @classmethod
    def from_config(cls, risk) -> "RiskLimits":
        """From config.risk (a `config.schema.RiskConfig`): every field, venue_rate_per_sec being
        its property (the ops threshold less the margin)."""
        return cls(**{name: getattr(risk, name) for name in cls.__dataclass_fields__})

    def __post_init__(self):
        # Seconds since IST midnight of each boundary, in phase order.
        bounds = tuple(parse_hhmm(t) for t in (self.session_start, self.entry_cutoff,
                                               self.square_off, self.session_end))
        object.__setattr__(self, "boundaries_s", bounds)
        object.__setattr__(self, "_phase_span", (0, 0, PHASE_PRE_OPEN))    # empty: none asked yet
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
        # Asked several times per event tick with a clock that crosses a boundary a few times a
        # day: the span of market time the last answer holds for, [start, end), answers at once.
        start, end, phase = self._phase_span
        if start <= ts_ns < end:
            return phase
        tod = ist_time_of_day_s(ts_ns)
        midnight = ist_midnight_ns(ts_ns)
        phase, start, end = PHASE_PRE_OPEN, midnight, midnight + SECONDS_PER_DAY * NS_PER_S
        for bound in self.boundaries_s:
            if tod >= bound:
                phase += 1
                start = max(start, midnight + bound * NS_PER_S)
            else:
                end = min(end, midnight + bound * NS_PER_S)
        object.__setattr__(self, "_phase_span", (start, end, phase))
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
