"""A seeded market day for the determinism tests: random-walk ticks on three instruments from 15:03
to past the 15:10 square-off, and a few dozen intents (market and limit entries, brackets, slices,
some denied), against a throttled, partially filling, slipping paper broker."""

import numpy as np

from common.dtypes import TICK_DTYPE
from orders.limits import RiskLimits
from tests.orders.risk_support import limits_of
from tests.orders.stubs import instruments, intent, ist_ns

N_INSTRUMENTS = 3
TICK_SIZE = 0.05


def scenario_limits(daily_loss_limit_inr: float = 1e9) -> RiskLimits:
    return limits_of(max_order_qty=60, max_order_notional_inr=1e6, max_position_qty=120,
                     max_gross_exposure_inr=1e7, max_open_orders=40, rate_per_sec=4,
                     rate_per_min=200, rate_per_day=1000,
                     daily_loss_limit_inr=daily_loss_limit_inr, entry_cutoff="15:08",
                     square_off="15:10")


def desk_options(daily_loss_limit_inr: float = 1e9) -> dict:
    return dict(rows=instruments(N_INSTRUMENTS, tick_size=TICK_SIZE, freeze_qty=25),
                limits=scenario_limits(daily_loss_limit_inr), max_fill_qty_per_tick=7,
                slippage_ticks=1)


def market_day(seed: int, n_ticks: int = 2400, n_intents: int = 40):
    """(ticks, intents) for one seed: 250 ms apart from 15:03, intents before the 15:08 cut-off."""
    rng = np.random.default_rng(seed)
    ticks = np.zeros(n_ticks, TICK_DTYPE)
    ticks["seq"] = np.arange(1, n_ticks + 1)
    ticks["ts_event_ns"] = ist_ns(15, 3) + np.arange(n_ticks) * 250_000_000
    ticks["instrument"] = rng.integers(0, N_INSTRUMENTS, n_ticks)
    level = np.full(N_INSTRUMENTS, 2000)               # prices in ticks (100.00 rupees)
    for i in range(n_ticks):
        k = ticks["instrument"][i]
        level[k] += rng.integers(-3, 4)
        ticks["price"][i] = level[k] * TICK_SIZE
    intents = []
    for i in sorted(rng.choice(np.arange(5, 1150), n_intents, replace=False)):
        intents.append(_intent(rng, ticks[i]))
    return ticks, intents


def _intent(rng, tick):
    ltp, side = float(tick["price"]), int(rng.choice((1, -1)))
    limit = rng.random() < 0.3
    limit_price = round((ltp - side * rng.integers(0, 4) * TICK_SIZE) / TICK_SIZE) * TICK_SIZE
    entry = limit_price if limit else ltp
    naked = rng.random() < 0.2          # no legs: only the square-off closes it
    return intent(int(tick["seq"]), instrument=int(tick["instrument"]), side=side,
                  qty=int(rng.integers(1, 60)), order_type="LIMIT" if limit else "MARKET",
                  limit_price=limit_price if limit else 0.0,
                  stop_loss=0.0 if naked else entry * (1 - side * rng.uniform(0.001, 0.006)),
                  target=0.0 if naked else entry * (1 + side * rng.uniform(0.001, 0.006)),
                  strategy=str(rng.choice(["mac", "brk"])), ts_ns=int(tick["ts_event_ns"]))


def batches(ticks, intents, cuts):
    """[(ticks, intents)] for batch boundaries `cuts` (indices into ticks, ascending)."""
    edges = [0] + [c for c in cuts if 0 < c < len(ticks)] + [len(ticks)]
    out = []
    for a, b in zip(edges, edges[1:]):
        lo, hi = int(ticks["seq"][a]), int(ticks["seq"][b - 1])
        out.append((ticks[a:b], [m for m in intents if lo <= m.tick_seq <= hi]))
    return out


def random_cuts(rng, n: int, mean: int) -> list[int]:
    return sorted(set(np.cumsum(rng.integers(1, 2 * mean, n)).tolist()))
