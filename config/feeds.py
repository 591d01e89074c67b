"""The `feed` section: where ticks come from (sim, replay, Kite, Upstox) and what the feed drops
before the ring. Part of config/schema.py's shape, which re-exports every name here."""

import os.path
from typing import Annotated, Literal

import msgspec

from config.section import (
    _DATE,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Section,
    _clock_field,
    _is_date,
    _require,
)

# The "stress" profile's settings when unset: the original 2,000 ticks/s stream (benchmarks, tests).
STRESS_TICK_RATE_HZ = 2000.0
STRESS_VOLATILITY_BPS_PER_TICK = 1.0
STRESS_REGIME_TICKS = 5000
_STRESS_ONLY = ("tick_rate_hz", "volatility_bps_per_tick", "regime_ticks")


class SimFeedConfig(Section, frozen=True, kw_only=True):
    # "realistic" (feed/sources/sim_session.py): a few ticks a second per instrument, more near the
    # open and close, daily_vol_pct a day, on a market clock at `speed` x wall pace. "stress": the
    # original high-rate stream, tick_rate_hz over all instruments, for benchmarks and tests.
    profile: Literal["realistic", "stress"] = "realistic"
    seed: int = 7
    max_ticks: PosInt | None = None           # None: until the run ends
    # "YYYY-MM-DD" the timestamps fall on; None = today (IST)
    session_date: str | None = None
    # IST market time of the first tick (a run at night trades)
    start_time: str = "09:15"
    # realistic: market seconds per wall second; 0 = unpaced
    speed: NonNegFloat = 1.0
    # realistic: per instrument, mid-session (x2.5 at the open)
    ticks_per_s: PosFloat = 3.0
    daily_vol_pct: PosFloat = 2.0             # realistic: a session's volatility, % of the price
    # stress only (None: STRESS_* above); 0 ticks/s = as fast as possible
    tick_rate_hz: NonNegFloat | None = None
    volatility_bps_per_tick: PosFloat | None = None
    regime_ticks: PosInt | None = None        # length of a trending / mean-reverting stretch

    def __post_init__(self):
        _clock_field(self.start_time, "start_time")
        for name in _STRESS_ONLY:
            _require(self.profile == "stress" or getattr(self, name) is None, name,
                     f'applies to profile "stress" only (profile is {self.profile!r}); '
                     'the realistic profile is set by ticks_per_s, daily_vol_pct and speed')
        _require(self.profile == "realistic" or self.speed == 1.0, "speed",
                 'applies to profile "realistic" only; the stress profile runs at tick_rate_hz')
        if self.session_date is not None:
            _require(
                _DATE.fullmatch(self.session_date) and _is_date(self.session_date),
                "session_date",
                f"{self.session_date!r} is not a date YYYY-MM-DD",
            )


class ReplayFeedConfig(Section, frozen=True, kw_only=True):
    path: str | None = None        # relative paths are relative to the current directory
    format: Literal["auto", "csv", "parquet"] = "auto"   # auto: from the file extension
    speed: NonNegFloat = 0.0       # 0 = as fast as possible, else multiple of the recorded pace

    def resolved_format(self) -> str | None:
        """csv or parquet; None when `auto` cannot tell from the extension."""
        if self.format != "auto":
            return self.format
        suffix = (self.path or "").lower().rsplit(".", 1)[-1]
        return {"csv": "csv", "parquet": "parquet", "pq": "parquet"}.get(suffix)


class KiteFeedConfig(Section, frozen=True, kw_only=True):
    root: str | None = None        # ticker websocket URL override, e.g. ws://127.0.0.1:9001
    mode: Literal["ltp", "quote", "full"] = "full"
    watchdog_s: PosFloat = 5.0     # no packet (not even a heartbeat) for this long: reconnect
    reconnect_max_delay_s: PosFloat = 30.0
    # PEM roots trusted for wss:// (certificate and host name are always checked); None: the
    # system's
    ca_file: str | None = None


class UpstoxFeedConfig(Section, frozen=True, kw_only=True):
    # REST host of the feed's authorize call; None: broker.upstox.host
    host: str | None = None
    mode: Literal["ltpc", "full"] = "full"
    watchdog_s: PosFloat = 5.0
    reconnect_max_delay_s: PosFloat = 30.0
    # With broker.name upstox, whatever the feed source: feed also runs Upstox's portfolio stream
    # and forwards its order updates to orders (feed/sources/upstox/orderstream.py); polling stays
    # on.
    order_updates: bool = True


class TickSanityConfig(Section, frozen=True, kw_only=True):
    """feed.sanity: ticks the feed drops before the ring (feed/sanity.py has the rules)."""

    # from the instrument's last good price (NSE bands: 2-20 %); 0 = off
    max_jump_pct: NonNegFloat = 20.0
    # an instrument's first tick, from its ref_price; 0 = accept any
    ref_band_pct: NonNegFloat = 50.0
    # this many agreeing refused ticks are a real new level; 0 = never
    reanchor_ticks: NonNegInt = 5
    max_ahead_s: PosFloat = 60.0         # live sources: ts_event_ns ahead of the wall clock
    # sim/replay: a step of the recording's own clock (nights, holidays)
    max_gap_s: PosFloat = 7 * 86400.0


class FeedConfig(Section, frozen=True, kw_only=True):
    source: Literal["sim", "replay", "kite", "upstox"] = "sim"
    ring_capacity: Annotated[int, msgspec.Meta(ge=64, le=1 << 24)] = 65536   # slots, power of two
    record_path: str | None = None   # append every received tick to this replay file
    sim: SimFeedConfig = msgspec.field(default_factory=SimFeedConfig)
    replay: ReplayFeedConfig = msgspec.field(default_factory=ReplayFeedConfig)
    kite: KiteFeedConfig = msgspec.field(default_factory=KiteFeedConfig)
    upstox: UpstoxFeedConfig = msgspec.field(default_factory=UpstoxFeedConfig)
    sanity: TickSanityConfig = msgspec.field(default_factory=TickSanityConfig)

    def __post_init__(self):
        cap = self.ring_capacity
        _require(cap & (cap - 1) == 0, "ring_capacity", f"{cap} is not a power of two")
        if self.source == "replay":
            _require(self.replay.path, "replay.path", "is required when source is 'replay'")
            _require(self.replay.resolved_format(), "replay.format",
                     "cannot tell csv from parquet by the file extension; set it")
            same = self.record_path is not None and (
                os.path.normpath(self.record_path) == os.path.normpath(self.replay.path))
            _require(not same, "record_path",
                     "is the replay file itself; recording would overwrite what is being replayed")
