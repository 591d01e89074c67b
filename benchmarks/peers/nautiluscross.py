"""NautilusTrader's side of the peers benchmark: the session as a backtest, one EMA cross per
instrument.

Imports nautilus_trader at the top: only a child process started by nautilus.py imports this module,
and only when the package is installed (the `bench` extra).

- Venue XNSE, netting, a margin account in INR (so a bearish cross can open a short, as OTrade's
  allow_short does); every instrument an `Equity` with its tick size and a lot of 1.
- Data: the session's ticks as `TradeTick`s (price = last price, size = last quantity), built with
  Nautilus' own TradeTickDataWrangler, per instrument.
- Strategy: `TickEMACross`, NautilusTrader's EMACross example (ema_cross.py) made to run per trade
  tick instead of per bar: its two ExponentialMovingAverage indicators are registered for trade
  ticks and, once warm, a change of side of fast - slow submits a MARKET order of `qty` (the
  crossing rule of strategy.cross_step, so the intents are OTrade's). Nautilus' EMA starts from the
  first price rather than from the SMA of the first n, so its count is checked against the reference
  run that way.
- Throughput: ticks / wall time of `engine.run()`, with the post-run analysis off (it is reporting,
  not trading). Building the ticks and adding them to the engine is timed apart as loading.
"""

from __future__ import annotations

import time
from decimal import Decimal

import numpy as np
import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators import ExponentialMovingAverage
from nautilus_trader.model.currencies import INR
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, OrderStatus, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import TradeTickDataWrangler
from nautilus_trader.trading.strategy import Strategy

from benchmarks.peers.strategy import NOT_WARM, cross_step
from benchmarks.peers.ticks import load

VENUE = Venue("XNSE")
STARTING_BALANCE_INR = 100_000_000


# nautilus_trader (the optional `bench` extra) is usually not installed: mypy then checks the class
# keyword against object.__init_subclass__.
class TickEMACrossConfig(StrategyConfig, frozen=True):  # type: ignore[call-arg, unused-ignore]
    instrument_id: InstrumentId
    trade_size: Decimal
    fast_ema_period: int = 10
    slow_ema_period: int = 30
    allow_short: bool = True


class TickEMACross(Strategy):
    def __init__(self, config: TickEMACrossConfig):
        super().__init__(config)
        self.fast_ema = ExponentialMovingAverage(config.fast_ema_period)
        self.slow_ema = ExponentialMovingAverage(config.slow_ema_period)
        self.side = NOT_WARM
        self.ticks = self.intents = self.denied = 0

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.register_indicator_for_trade_ticks(self.config.instrument_id, self.fast_ema)
        self.register_indicator_for_trade_ticks(self.config.instrument_id, self.slow_ema)
        self.subscribe_trade_ticks(self.config.instrument_id)

    def on_trade_tick(self, tick) -> None:
        self.ticks += 1
        if not (self.fast_ema.initialized and self.slow_ema.initialized):
            return
        signal, self.side = cross_step(self.side, self.fast_ema.value, self.slow_ema.value)
        if signal == 0 or (signal < 0 and not self.config.allow_short):
            return
        self.intents += 1
        order = self.order_factory.market(
            instrument_id=self.config.instrument_id,
            order_side=OrderSide.BUY if signal > 0 else OrderSide.SELL,
            quantity=self.instrument.make_qty(self.config.trade_size),
            time_in_force=TimeInForce.DAY,
        )
        self.submit_order(order)

    def on_order_denied(self, event) -> None:
        self.denied += 1


def build_engine(path: str, instruments: list[dict], params: dict) -> tuple[BacktestEngine, list]:
    ticks = load(path, instruments)
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("PEERS-001"),
            run_analysis=False,
            logging=LoggingConfig(log_level="ERROR"),
        )
    )
    engine.add_venue(venue=VENUE, oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     base_currency=INR, starting_balances=[Money(STARTING_BALANCE_INR, INR)])
    strategies = []
    for k, inst in enumerate(instruments):
        equity = Equity(
            instrument_id=InstrumentId(Symbol(inst["symbol"]), VENUE),
            raw_symbol=Symbol(inst["symbol"]),
            currency=INR,
            price_precision=2,
            price_increment=Price(inst["tick_size"], 2),
            lot_size=Quantity.from_int(1),
            ts_event=0,
            ts_init=0,
        )
        engine.add_instrument(equity)
        where = np.flatnonzero(ticks.instrument == k)
        if len(where):
            frame = pd.DataFrame(
                {
                    "price": ticks.price[where],
                    "quantity": ticks.qty[where].astype(np.float64),
                    "trade_id": where.astype(str),
                },
                index=pd.to_datetime(ticks.ts_event_ns[where], unit="ns", utc=True),
            )
            engine.add_data(TradeTickDataWrangler(equity).process(frame))
        strategy = TickEMACross(
            TickEMACrossConfig(
                instrument_id=equity.id,
                trade_size=Decimal(params["qty"]),
                fast_ema_period=params["fast"],
                slow_ema_period=params["slow"],
                allow_short=params["allow_short"],
                order_id_tag=f"{k:03d}",
            )
        )
        engine.add_strategy(strategy)
        strategies.append(strategy)
    return engine, strategies


def backtest(path: str, instruments: list[dict], params: dict) -> dict:
    """Load, run and count; runs in its own process (nautilus.py)."""
    started = time.monotonic()
    engine, strategies = build_engine(path, instruments, params)
    loaded = time.monotonic()
    engine.run()
    run_s = time.monotonic() - loaded
    try:
        ticks = sum(s.ticks for s in strategies)
        return {"ticks": ticks, "load_s": round(loaded - started, 3), "run_s": round(run_s, 3),
                "ticks_per_s": ticks / run_s if run_s > 0 else None,
                "intents": sum(s.intents for s in strategies), "orders": len(engine.cache.orders()),
                "denied": sum(s.denied for s in strategies),
                "filled": sum(o.status == OrderStatus.FILLED for o in engine.cache.orders()),
                "version": __import__("nautilus_trader").__version__}
    finally:
        engine.dispose()
