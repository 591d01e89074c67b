"""The moving-average crossover in plain Python, per tick, the way a developer writes it without
numba.

The same rules as OTrade's default strategy (signals/strategies/ma_crossover.py), so every system in
the peers benchmark raises the same intents on the same ticks and their counts can be compared:

- EMA: alpha = 2 / (n + 1); the first value is the SMA of the first n prices
  (signals/kernels/ema.py). `seed="first"` starts from the first price instead and is warm after n
  prices: that is NautilusTrader's ExponentialMovingAverage, so the reference can be run the way
  Nautilus counts.
- SMA: a deque of the last n prices and a running sum, both in integer 0.0001 ₹ units as OTrade
  keeps them (signals/kernels/sma.py), so the mean is correctly rounded and ties are exact ties.
- Crossing (signals/kernels/crossover.py): the side is the sign of fast - slow the last time it was
  not zero; a change of side is a cross (+1 BUY, -1 SELL); the first warm tick only sets the side,
  unless the two start level. A bearish cross is an intent only when `allow_short`.

`reference_signals` runs it over a whole session: the count every peer's intents are checked
against.
"""

from __future__ import annotations

from collections import deque

import numpy as np

NOT_WARM = 0
LEVEL = 2      # warm, and fast == slow on every tick so far


class EMA:
    __slots__ = ("n", "alpha", "first_price_seed", "count", "seed", "value")

    def __init__(self, n: int, seed: str = "sma"):
        self.n, self.alpha = n, 2.0 / (n + 1.0)
        self.first_price_seed = seed == "first"
        self.count, self.seed, self.value = 0, 0.0, 0.0

    def update(self, price: float) -> float | None:
        """The average after `price`, or None while fewer than n prices were seen."""
        self.count += 1
        if self.first_price_seed:  # NautilusTrader's formula, term for term
            self.value = (
                price if self.count == 1 else self.alpha * price + (1.0 - self.alpha) * self.value
            )
            return self.value if self.count >= self.n else None
        if self.count <= self.n:
            self.seed += price
            if self.count < self.n:
                return None
            self.value = self.seed / self.n
            return self.value
        self.value = self.value + self.alpha * (price - self.value)
        return self.value


class SMA:
    __slots__ = ("n", "window", "total", "count")

    def __init__(self, n: int, seed: str = "sma"):
        self.n, self.total, self.count = n, 0, 0
        self.window: deque[int] = deque(maxlen=n)

    def update(self, price: float) -> float | None:
        window = self.window
        units = round(price * 10_000)   # as OTrade: an exact integer sum of 0.0001 ₹ units
        self.total += units
        if len(window) == self.n:
            self.total -= window[0]
        window.append(units)
        self.count += 1
        return self.total / (self.n * 10_000) if self.count >= self.n else None


def cross_step(side: int, fast: float | None, slow: float | None) -> tuple[int, int]:
    """(signal, new side): +1 when fast crossed above slow, -1 below, else 0."""
    if fast is None or slow is None:
        return 0, side
    if fast > slow:
        now = 1
    elif fast < slow:
        now = -1
    else:
        return 0, LEVEL if side == NOT_WARM else side
    if side == LEVEL or side == -now:
        return now, now
    return 0, now


class Crossover:
    """Fast/slow crossover per instrument key; `on_price` returns the intent's side (+1, -1) or
    0."""

    def __init__(self, fast: int = 10, slow: int = 30, ma: str = "ema", allow_short: bool = True,
                 seed: str = "sma", **_order_params):
        self.fast_n, self.slow_n, self.allow_short = fast, slow, allow_short
        self.average = EMA if ma == "ema" else SMA
        self.seed = seed
        self.state: dict = {}       # key -> [fast average, slow average, side]

    def on_price(self, key, price: float) -> int:
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = [
                self.average(self.fast_n, self.seed),
                self.average(self.slow_n, self.seed),
                NOT_WARM,
            ]
        fast, slow = st[0].update(price), st[1].update(price)
        signal, st[2] = cross_step(st[2], fast, slow)
        if signal < 0 and not self.allow_short:
            return 0
        return signal


def reference_signals(
    instrument: np.ndarray, price: np.ndarray, params: dict, seed: str = "sma"
) -> np.ndarray:
    """The side of the intent raised on every tick (0: none), for a whole session."""
    strategy = Crossover(**params, seed=seed)
    on_price = strategy.on_price
    return np.array(
        [on_price(k, p) for k, p in zip(instrument.tolist(), price.tolist())], dtype=np.int8
    )
