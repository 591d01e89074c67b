"""The typed, frozen shape of an OTrade configuration: every field, its unit and its default.

Defaults live here and only here; `config/default.json` and the overlays carry choices, not
defaults. A runtime class that a section configures (`orders.limits.RiskLimits`, the brokers'
`*Settings`, the feed sources' `*Options`) declares no default of its own: it is built from its
section by `from_config`, and tests/config/test_one_source_of_defaults.py fails if one grows a
default.

Naming: every section is `<What>Config` (`KiteBrokerConfig` configures the adapter `KiteBroker`,
`StrategyConfig` the signals `Strategy`), so a schema class never shares a name with the runtime
class it configures; a strategy kind's params are `<Kind>Params` (the value of its `params`).
Each section checks its own invariants in `__post_init__`, so a `Config` that exists is consistent
in itself (also one built in Python, or unpickled in a child process). Checks that depend on this
machine, the filesystem or the environment (cores, the replay file, secrets) belong to the loader.

An invariant failure raises `ValueError("<field>: <why>")`; msgspec appends the location of the
struct (`- at $.risk`) and the loader joins the two into the dotted path of the field
(`risk.square_off`). Times of day are IST wall-clock strings "HH:MM"; use `minutes_of_day` to turn
them into numbers.
"""
from typing import Annotated, Any, Literal

import msgspec

from config.charges import check_overrides, segment_of
from config.feeds import (  # noqa: F401 - re-exported: the whole shape is read from here
    STRESS_REGIME_TICKS,
    STRESS_TICK_RATE_HZ,
    STRESS_VOLATILITY_BPS_PER_TICK,
    FeedConfig,
    KiteFeedConfig,
    ReplayFeedConfig,
    SimFeedConfig,
    TickSanityConfig,
    UpstoxFeedConfig,
)
from config.section import (  # noqa: F401 - re-exported
    _RUN_ID,
    _STRATEGY_NAME,
    _SYMBOL,
    NonNegFloat,
    NonNegInt,
    Percent,
    PosFloat,
    PosInt,
    Port,
    Section,
    _clock_field,
    _require,
    minutes_of_day,
    split_location,
)

STAGE_NAMES = ("feed", "signals", "orders", "positions")
LIVE_VENUES = ("kite", "upstox")


class RunConfig(Section, frozen=True, kw_only=True):
    run_dir: str | None = None      # None: runs/<YYYYmmdd-HHMMSS> under the current directory
    run_id: str | None = None       # None: generated at start (names the run's shm segments)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Python's garbage collector in every stage after start-up (common/gcpolicy.py): "frozen" moves
    # the started heap out of the collector's reach and makes full collections rare; "default" is
    # plain CPython. benchmarks/gc_pause.py measures the two.
    gc: Literal["frozen", "default"] = "frozen"
    # At a stop (Ctrl-C, SIGTERM, SIGHUP, --duration, the supervisor giving up, a replay's end)
    # working entries are cancelled and open brackets are either flattened (their legs cancelled,
    # positions closed: intraday products' safe default) or left working for the next start
    # ("leave", said loudly).
    on_stop: Literal["flatten", "leave"] = "flatten"
    # How long orders waits at a stop for a live broker to confirm the cancels and closes (seconds).
    on_stop_timeout_s: PosFloat = 30.0
    # The broker account's home across runs (supervision/accountday.py): its order and fill
    # journals, the paper broker's book and the reconcile baseline per IST trading day, and its
    # lock. None: $OTRADE_ACCOUNT_HOME, else ~/.local/state/otrade/accounts.
    account_home: str | None = None
    # At the end of the run, report.html and its charts in the run dir (reports/report.py; seconds
    # of matplotlib: 2.4 s after a 1-s sim run here). false: none is drawn, the end says so;
    # `python -m reports.report <run_dir>` draws it later from the same files.
    report: bool = True

    def __post_init__(self):
        if self.run_id is not None:
            _require(_RUN_ID.fullmatch(self.run_id), "run_id", "use 1-64 of A-Z a-z 0-9 _ . -")


class InstrumentConfig(Section, frozen=True, kw_only=True):
    symbol: str                    # trading symbol as the exchange spells it: "RELIANCE", "M&M"
    exchange: Literal["NSE", "BSE", "NFO", "BFO", "MCX", "CDS"] = "NSE"
    token: PosInt                  # Kite instrument_token: what the Kite ticker sends
    exchange_token: NonNegInt = 0
    tick_size: PosFloat            # rupees
    lot_size: PosInt = 1
    freeze_qty: NonNegInt = 0      # exchange maximum quantity per order; 0 = no limit
    ref_price: PosFloat            # rupees: where the sim starts, an anchor for sanity checks
    broker_key: str = ""           # Upstox instrument_key, e.g. "NSE_EQ|INE002A01018"

    def __post_init__(self):
        _require(_SYMBOL.fullmatch(self.symbol), "symbol",
                 f"{self.symbol!r} is not a trading symbol (1-32 of A-Z 0-9 & _ . -)")
        _require(len(self.broker_key.encode()) <= 48, "broker_key", "is longer than 48 bytes")
        steps = self.ref_price / self.tick_size
        _require(abs(steps - round(steps)) < 1e-6, "ref_price",
                 f"{self.ref_price} is not a multiple of tick_size {self.tick_size}")


class MACrossoverParams(Section, frozen=True, kw_only=True):
    fast: PosInt = 10              # window of the fast average, ticks
    slow: PosInt = 30              # window of the slow average, ticks
    ma: Literal["sma", "ema"] = "ema"
    qty: PosInt = 1                # shares per entry
    stop_loss_pct: PosFloat = 0.5  # of the entry price
    target_pct: PosFloat = 1.0     # of the entry price
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    limit_offset_ticks: NonNegInt = 2   # LIMIT entries: this many ticks through the LTP
    allow_short: bool = True
    # One trade at a time per instrument: no intent until the last one's stop or target has traded.
    one_trade: bool = False

    def __post_init__(self):
        _require(self.fast < self.slow, "slow", f"must be greater than fast ({self.fast})")
        _require(self.stop_loss_pct < 100, "stop_loss_pct", "must be below 100")


# The strategy kinds and the Struct that validates each one's params. Adding a kind adds one line.
class VWAPRevertParams(Section, frozen=True, kw_only=True):
    """config.strategies[i].params for kind "vwap_revert"."""

    band_pct: PosFloat = 0.3            # distance from the VWAP, % of it, that counts as stretched
    min_session_ticks: PosInt = 100     # ticks of the session before the first intent
    qty: PosInt = 1                     # shares per entry
    stop_loss_pct: PosFloat = 0.5       # beyond the entry price
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    limit_offset_ticks: NonNegInt = 2
    allow_short: bool = True


STRATEGY_PARAMS: dict[str, type[Section]] = {
    "ma_crossover": MACrossoverParams,
    "vwap_revert": VWAPRevertParams,
}


class StrategyConfig(Section, frozen=True, kw_only=True):
    name: str                       # 1-8 letters/digits, unique: it is part of every order id
    kind: str                       # a key of STRATEGY_PARAMS
    instruments: tuple[str, ...] = ("*",)   # symbols, or "*" for the whole universe
    # A JSON object on input; after validation an instance of STRATEGY_PARAMS[kind].
    params: Any = msgspec.field(default_factory=dict)

    def __post_init__(self):
        _require(_STRATEGY_NAME.fullmatch(self.name), "name",
                 f"{self.name!r} must be 1-8 letters or digits (it goes into order ids)")
        params_type = STRATEGY_PARAMS.get(self.kind)
        _require(
            params_type,
            "kind",
            f"unknown strategy kind {self.kind!r} (known: {', '.join(sorted(STRATEGY_PARAMS))})",
        )
        _require(self.instruments, "instruments", "is empty")
        _require("*" not in self.instruments or len(self.instruments) == 1, "instruments",
                 "'*' means every instrument and cannot be combined with symbols")
        if isinstance(self.params, dict):
            msgspec.structs.force_setattr(self, "params", _convert_params(self.params, params_type))
        _require(
            isinstance(self.params, params_type), "params", f"must be an object for {self.kind}"
        )


def _convert_params(raw: dict, params_type: type[Section]) -> Section:
    try:
        return msgspec.convert(raw, params_type)
    except msgspec.ValidationError as e:
        message, where = split_location(str(e))
        raise ValueError(f"params{where}: {message}") from None


class RiskConfig(Section, frozen=True, kw_only=True):
    max_order_qty: PosInt = 100
    max_order_notional_inr: PosFloat = 200_000.0
    max_position_qty: PosInt = 500          # per symbol, absolute
    max_gross_exposure_inr: PosFloat = 1_000_000.0
    max_open_orders: PosInt = 50
    # A strategy's active brackets on one instrument; an intent beyond them is denied BRACKET_OPEN
    # (a cross while the last trade on that name is still open is not a second trade). 0 = no limit.
    max_brackets_per_instrument: NonNegInt = 0
    rate_per_sec: PosInt = 10               # Kite's order limits: 10/s, 400/min, 5000/day
    rate_per_min: PosInt = 400
    rate_per_day: PosInt = 5000
    price_band_pct: Annotated[float, msgspec.Meta(gt=0, le=20)] = 5.0   # LIMIT price vs LTP
    stale_tick_ms: PosInt = 5000            # no new entries on a tick older than this
    daily_loss_limit_inr: PosFloat = 10_000.0   # breach: HALTED, cancel entries, flatten
    freeze_action: Literal["slice", "deny"] = "slice"
    session_start: str = "09:15"
    entry_cutoff: str = "15:00"             # no new entries after this
    # flatten everything (before the broker's auto square-off)
    square_off: str = "15:10"
    session_end: str = "15:30"
    enforce_session: bool = True
    # Where a bracket's stop and target sit: "fill" keeps the intent's distances (as ratios) from
    # the entry's average fill price, re-pricing working legs as partial fills move it; "signal"
    # places them at the intent's own prices wherever the entry filled (orders/brackets.py).
    leg_prices: Literal["fill", "signal"] = "fill"
    # An intent whose tick is older than this (market time) when orders could first act on it is
    # denied INTENT_EXPIRED, never sent late (a backlog after a restart, a stalled stage).
    max_intent_age_ms: PosInt = 2000
    # SEBI's retail-algo framework (circular of 4 Feb 2025; NSE/INVG/67858, 5 May 2025): an algo not
    # registered with the exchange stays below its threshold, 10 orders/s per exchange/segment
    # today. OTrade sends no exchange algo ID, so it is always such an algo (see Config's
    # live-broker check).
    ops_threshold: PosInt = 10
    # Keep this far below the threshold on each exchange/segment: the broker measures the rate on
    # its own clock, and network jitter can bunch orders sent a little apart into one of its
    # seconds.
    rate_margin_pct: Annotated[float, msgspec.Meta(ge=0, lt=100)] = 20.0

    @property
    def venue_rate_per_sec(self) -> int:
        """Most placements in any second on one exchange/segment: the threshold less the margin."""
        return int(self.ops_threshold * (100.0 - self.rate_margin_pct) // 100.0)

    def __post_init__(self):
        _require(
            self.venue_rate_per_sec >= 1,
            "rate_margin_pct",
            f"{self.rate_margin_pct} % of ops_threshold ({self.ops_threshold}/s) leaves no order a "
            "second",
        )
        names = ("session_start", "entry_cutoff", "square_off", "session_end")
        times = [_clock_field(getattr(self, name), name) for name in names]
        for i in range(1, len(names)):
            _require(times[i - 1] < times[i], names[i],
                     f"{getattr(self, names[i])} must be later than {names[i - 1]} "
                     f"({getattr(self, names[i - 1])})")
        _require(self.rate_per_sec <= self.rate_per_min, "rate_per_min", "must be >= rate_per_sec")
        _require(self.rate_per_min <= self.rate_per_day, "rate_per_day", "must be >= rate_per_min")
        _require(self.max_order_qty <= self.max_position_qty, "max_order_qty",
                 f"must be <= max_position_qty ({self.max_position_qty})")


class PaperBrokerConfig(Section, frozen=True, kw_only=True):
    # The paper account's name: one supervisor per account at a time
    # (supervision/instancelock.py).
    account: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "default"
    slippage_ticks: NonNegInt = 0
    # Charges are the `fees` section's (a broker preset), the same for paper and live brokers.


class KiteBrokerConfig(Section, frozen=True, kw_only=True):
    root: str | None = None          # REST root override, e.g. http://127.0.0.1:9000
    timeout_s: PosFloat = 7.0
    market_protection: float = -1.0  # -1 = automatic, else 0-100 % (Kite needs it on MARKET orders)
    use_gtt: bool = False            # brackets as two-leg GTT instead of OTrade-managed exits
    local_server: bool = False       # run against a local Kite server: no credentials needed
    # Least time between two reads of the order book (a poll is 1 request, 2 when something filled;
    # Kite allows 10 a second for everything but orders). 0: every poll.
    poll_interval_ms: NonNegInt = 500

    def __post_init__(self):
        mp = self.market_protection
        _require(
            mp == -1 or 0 <= mp <= 100, "market_protection", f"{mp} is neither -1 nor in 0-100"
        )


class UpstoxBrokerConfig(Section, frozen=True, kw_only=True):
    host: str | None = None
    order_host: str | None = None
    timeout_s: PosFloat = 5.0
    use_gtt: bool = False
    local_server: bool = False
    market_protection: int = -1      # on MARKET and SL-M orders: -1 = Upstox chooses, else 0-100 %
    poll_interval_ms: NonNegInt = 500   # least time between two order-book reads; 0: each poll
    # The Algo Name configured for the app in Upstox's My Apps, sent as the X-Algo-Name header of
    # every order call (place, modify, cancel): Upstox requires it of algo apps since its 2026
    # retail-algo circular (upstox.com/developer/api-documentation/announcements/
    # algo-trading-circular, read 2026-12-07). "" sends none.
    algo_name: str = ""

    def __post_init__(self):
        _require(len(self.algo_name) <= 64 and self.algo_name.isprintable()
                 and "\n" not in self.algo_name, "algo_name",
                 "must be printable text of at most 64 characters (it is an HTTP header)")
        mp = self.market_protection
        _require(
            mp == -1 or 0 <= mp <= 100, "market_protection", f"{mp} is neither -1 nor in 0-100"
        )


class BrokerConfig(Section, frozen=True, kw_only=True):
    name: Literal["paper", "kite", "upstox"] = "paper"
    # orders compares its view with a live broker's this often (wall clock; 0 = only at start and on
    # `ctl reconcile`). The paper broker is checked only on `ctl reconcile`: its book is ours.
    reconcile_interval_s: NonNegFloat = 60.0
    # After the broker refuses our session (a dead token) orders makes no call but one probe this
    # often (seconds, wall clock): Kite may block an API key that keeps calling with a dead token.
    probe_interval_s: Annotated[float, msgspec.Meta(ge=10)] = 10.0
    paper: PaperBrokerConfig = msgspec.field(default_factory=PaperBrokerConfig)
    kite: KiteBrokerConfig = msgspec.field(default_factory=KiteBrokerConfig)
    upstox: UpstoxBrokerConfig = msgspec.field(default_factory=UpstoxBrokerConfig)

    def is_local(self, venue: str) -> bool:
        """True when `venue` (kite or upstox) is a local server rather than the real broker."""
        return getattr(self, venue).local_server

    @property
    def is_live(self) -> bool:
        """True when orders reach a real broker: real money."""
        return self.name in LIVE_VENUES and not self.is_local(self.name)


class FeesConfig(Section, frozen=True, kw_only=True):
    """fees: the charges every fill pays (orders/fees.py; every figure is in config/charges.py).

    `preset` null charges with the broker's own schedule: kite -> zerodha, upstox -> upstox, paper
    -> zerodha. `overrides` replaces single figures: {"EQ_INTRADAY": {"brokerage_pct": 0.05}}.
    """

    preset: Literal["zerodha", "upstox"] | None = None
    overrides: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)

    def __post_init__(self):
        check_overrides(self.overrides)


class ReportConfig(Section, frozen=True, kw_only=True):
    """positions.report: the settings of the run report's portfolio statistics
    (reports/statistics.py)."""

    # The capital returns, Sharpe, Sortino, Calmar and drawdown % are measured on (rupees). Every
    # strategy is measured on the whole of it, so the strategies' returns add up to the total's.
    capital_inr: PosFloat = 1_000_000.0
    # The annual risk-free rate Sharpe and Sortino subtract (percent a year, as rate/252 a session);
    # 0 by default: set it to, e.g., the 91-day T-bill yield to measure against that.
    risk_free_rate_pct: Annotated[float, msgspec.Meta(ge=0, le=50)] = 0.0
    # The instrument whose buy-and-hold is the report's benchmark; "" = the first instrument.
    benchmark_symbol: str = ""


class PositionsConfig(Section, frozen=True, kw_only=True):
    reconcile_on_start: bool = True
    snapshot_interval_ms: PosInt = 500
    report: ReportConfig = msgspec.field(default_factory=ReportConfig)


class JournalConfig(Section, frozen=True, kw_only=True):
    """journal: how durable the journals (and positions.json) are.

    "never" survives any process crash (written bytes are in the kernel); "batch" also survives
    power loss: an fdatasync on every flush, and orders flushes before every broker call, so the
    "about to send" record is on disk before the order leaves (milliseconds on the order path);
    "always" syncs every record. Unset (None) is resolved by config/loader.py from the broker:
    "batch" with a live broker (broker.name kite or upstox, local rehearsal servers included),
    "never" for paper.
    """

    fsync: Literal["never", "batch", "always"] | None = None
    # Orders keeps a snapshot of its engine beside its journal, written by a process of its own
    # (orders/snapshotprocess.py), so that a restart applies only the journal's tail. false: no
    # snapshot is loaded or written, every restart reads the whole journal.
    orders_snapshots: bool = True


class RestartConfig(Section, frozen=True, kw_only=True):
    max_restarts: NonNegInt = 5      # within window_s; one more and the supervisor gives up
    window_s: PosFloat = 60.0
    backoff_initial_ms: PosInt = 20
    backoff_max_ms: PosInt = 2000

    def __post_init__(self):
        _require(self.backoff_initial_ms <= self.backoff_max_ms, "backoff_max_ms",
                 f"must be >= backoff_initial_ms ({self.backoff_initial_ms})")


class SupervisorConfig(Section, frozen=True, kw_only=True):
    http_port: Port = 8765           # /health and /metrics on 127.0.0.1; 0 = off
    dashboard: bool = True           # live status view in the terminal
    heartbeat_timeout_ms: PosInt = 1000
    stop_grace_ms: PosInt = 2000     # SIGTERM, then SIGKILL after this
    ready_timeout_s: PosFloat = 60.0
    stay_up_degraded: bool = False   # keep running (halted) after giving up on a stage
    restart: RestartConfig = msgspec.field(default_factory=RestartConfig)
    duration_s: PosFloat | None = None   # None: until Ctrl-C


class StageConfig(Section, frozen=True, kw_only=True):
    cores: tuple[NonNegInt, ...] | None = None   # None: automatic placement (config/placement.py)
    # How the stage waits for work. "spin" polls without ever sleeping: the lowest latency, and
    # it burns a whole core, so --check-config refuses it unless the stage has a core of its own
    # (two spinners on one vCPU collapse throughput 80-250x). "block" sleeps on a doorbell.
    # "auto": signals spins when alone on its cores (else it yields), the others block.
    # Only signals and orders can spin.
    wait: Literal["auto", "spin", "block"] = "auto"

    def __post_init__(self):
        if self.cores is not None:
            _require(self.cores, "cores", "is empty (use null for automatic placement)")
            _require(len(set(self.cores)) == len(self.cores), "cores", "lists a core twice")


class StagesConfig(Section, frozen=True, kw_only=True):
    feed: StageConfig = msgspec.field(default_factory=StageConfig)
    signals: StageConfig = msgspec.field(default_factory=StageConfig)
    orders: StageConfig = msgspec.field(default_factory=StageConfig)
    positions: StageConfig = msgspec.field(default_factory=StageConfig)


def _default_strategies() -> tuple[StrategyConfig, ...]:
    return (StrategyConfig(name="mac", kind="ma_crossover"),)


class Config(Section, frozen=True, kw_only=True):
    run: RunConfig = msgspec.field(default_factory=RunConfig)
    instruments: Annotated[tuple[InstrumentConfig, ...],
                           msgspec.Meta(min_length=1, max_length=65535)]
    feed: FeedConfig = msgspec.field(default_factory=FeedConfig)
    strategies: tuple[StrategyConfig, ...] = msgspec.field(default_factory=_default_strategies)
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    broker: BrokerConfig = msgspec.field(default_factory=BrokerConfig)
    fees: FeesConfig = msgspec.field(default_factory=FeesConfig)
    positions: PositionsConfig = msgspec.field(default_factory=PositionsConfig)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
    supervisor: SupervisorConfig = msgspec.field(default_factory=SupervisorConfig)
    stages: StagesConfig = msgspec.field(default_factory=StagesConfig)

    def __post_init__(self):
        _require_unique(self.instruments, "symbol", "instruments")
        _require_unique(self.instruments, "token", "instruments")
        _require_unique(self.strategies, "name", "strategies")
        for i, inst in enumerate(self.instruments):   # every fill must have a book of charges
            try:
                segment_of(inst.exchange, inst.symbol)
            except ValueError as e:
                raise ValueError(f"instruments[{i}].exchange: {e}") from None
        symbols = {inst.symbol for inst in self.instruments}
        bench = self.positions.report.benchmark_symbol
        _require(not bench or bench in symbols, "positions.report.benchmark_symbol",
                 f"unknown instrument {bench!r} (not in instruments)")
        for i, strategy in enumerate(self.strategies):
            for j, symbol in enumerate(strategy.instruments):
                _require(symbol == "*" or symbol in symbols, f"strategies[{i}].instruments[{j}]",
                         f"unknown instrument {symbol!r} (not in instruments)")
        if "upstox" in (self.feed.source, self.broker.name):
            for i, inst in enumerate(self.instruments):
                _require(inst.broker_key, f"instruments[{i}].broker_key",
                         "Upstox needs the instrument_key, e.g. 'NSE_EQ|INE002A01018'")
        _require(not self.broker.is_live or self.feed.source in LIVE_VENUES, "broker.name",
                 f"a live broker ({self.broker.name}) needs a live feed, not {self.feed.source!r}")
        if self.broker.is_live:
            _check_retail_algo_rate(self.risk)

    def strategy_symbols(self, strategy: StrategyConfig) -> tuple[str, ...]:
        """The symbols a strategy trades, with "*" expanded to the whole universe."""
        if strategy.instruments == ("*",):
            return tuple(inst.symbol for inst in self.instruments)
        return strategy.instruments


# The exchanges' threshold for an unregistered algo, orders a second per exchange/segment
# (NSE/INVG/67858).
UNREGISTERED_OPS_THRESHOLD = 10


def _check_retail_algo_rate(risk: RiskConfig) -> None:
    """Orders that reach an exchange: refuse a rate an unregistered algo may not send."""
    rule = (
        f"the exchanges' threshold for an unregistered algo is {UNREGISTERED_OPS_THRESHOLD} "
        "orders/s "
        f"per exchange/segment (SEBI retail-algo framework, NSE/INVG/67858); OTrade sends no "
        f"exchange algo ID, so it must stay below it"
    )
    _require(risk.ops_threshold <= UNREGISTERED_OPS_THRESHOLD, "risk.ops_threshold",
             f"{risk.ops_threshold} orders/s is above what a live broker allows: {rule}")
    _require(
        risk.rate_per_sec <= risk.ops_threshold,
        "risk.rate_per_sec",
        f"{risk.rate_per_sec} orders/s is above risk.ops_threshold ({risk.ops_threshold}): {rule}",
    )


def _require_unique(items: tuple, attr: str, where: str) -> None:
    first: dict[object, int] = {}
    for i, item in enumerate(items):
        value = getattr(item, attr)
        _require(value not in first, f"{where}[{i}].{attr}",
                 f"duplicate {attr} {value!r} (also {where}[{first.get(value)}])")
        first[value] = i

