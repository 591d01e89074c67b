"""The engine's own view of the market and of its positions, and the tick-scanning kernels.

Everything risk needs (last price and last tick time per instrument, the market clock, net position,
average price, realised and unrealised P&L, gross exposure) is computed here from the engine's OWN
fills and the ticks it has seen, never from an asynchronous snapshot, so a check on tick T sees
exactly the state as of tick T however the tick stream was cut into batches.

Kernels (numba, over preallocated arrays; one array slot per instrument unless noted):
- `apply_ticks(ticks, start, stop, last_price, last_ts, last_seq, clock)`: the per-tick state
  update. `clock` is int64[2]: [0] the market clock (largest ts_event_ns seen), [1] the last tick
  seq.
- `scan_events(...)`: READ-ONLY scan for the first tick in [start, stop) on which the engine has
  work: its seq reaches `stop_seq` (an intent is due), the market clock reaches `wake_ns` (a session
  boundary, a deferred exit, an in-doubt retry), its price leaves its instrument's alert band
  [`alert_lo`, `alert_hi`] (a working SL stop the market gapped through), or (when `check_loss`) the
  day's P&L falls to `loss_floor`. It prices open positions in `scratch_px` (one slot per open
  position) so the real state is untouched: a paper fill found before that tick must be handled
  first, with the state as of the fill.
- `pnl_of(...)`: realised-net plus mark-to-market over the open positions, in `open_instr` order;
  both the scan and `Exposure.day_pnl` use it, so the kill switch fires on bit-identical numbers. A
  position with no price yet (0: a restart that found no market snapshot, before its instrument's
  first tick) is marked at its average price, not at 0: marked at 0, the first tick of any other
  instrument read a long position as a total loss and fired the daily loss limit (HALT + flatten).
O(stop - start) (+ open positions on ticks of instruments held). Imports numpy and numba only.
"""

import numpy as np
from numba import njit

from common.accounting import apply_trade
from common.clock import ist_midnight_ns

MARKET_DTYPE = np.dtype([("last_price", np.float64), ("last_ts_ns", np.int64),
                         ("last_seq", np.int64)])
NEVER_NS = (1 << 63) - 1


@njit(cache=True)
def apply_ticks(ticks, start, stop, last_price, last_ts, last_seq, clock):
    for t in range(start, stop):
        tick = ticks[t]
        k = tick["instrument"]
        if k < last_price.shape[0]:
            last_price[k] = tick["price"]
            last_ts[k] = tick["ts_event_ns"]
            last_seq[k] = tick["seq"]
        if tick["ts_event_ns"] > clock[0]:
            clock[0] = tick["ts_event_ns"]
        clock[1] = tick["seq"]


@njit(cache=True)
def pnl_of(realised_net, open_instr, pos_qty, avg_price, px):
    pnl = realised_net
    for j in range(open_instr.shape[0]):
        k = open_instr[j]
        if px[j] > 0.0:                  # unpriced: at its average price (module docstring)
            pnl += pos_qty[k] * (px[j] - avg_price[k])
    return pnl


@njit(cache=True)
def gross_of(open_instr, pos_qty, last_price, avg_price):
    gross = 0.0
    for j in range(open_instr.shape[0]):
        k = open_instr[j]
        price = last_price[k] if last_price[k] > 0.0 else avg_price[k]
        gross += abs(pos_qty[k]) * price
    return gross


@njit(cache=True)
def scan_events(ticks, start, stop, clock_ns, stop_seq, wake_ns, check_loss, loss_floor,
                realised_net, open_instr, open_slot, pos_qty, avg_price, last_price, scratch_px,
                alert_lo, alert_hi):
    for j in range(open_instr.shape[0]):
        scratch_px[j] = last_price[open_instr[j]]
    clock = clock_ns
    for t in range(start, stop):
        tick = ticks[t]
        if tick["seq"] >= stop_seq:
            return t
        if tick["ts_event_ns"] > clock:
            clock = tick["ts_event_ns"]
        if clock >= wake_ns:
            return t
        k = tick["instrument"]
        if k < alert_lo.shape[0] and (tick["price"] < alert_lo[k] or tick["price"] > alert_hi[k]):
            return t
        if check_loss:
            if k < open_slot.shape[0] and open_slot[k] >= 0:
                scratch_px[open_slot[k]] = tick["price"]
                if pnl_of(realised_net, open_instr, pos_qty, avg_price, scratch_px) <= loss_floor:
                    return t
    return stop


class Exposure:
    """Market state and positions, one slot per instrument (ticks' `instrument` index)."""

    def __init__(self, n_instruments: int):
        n = max(1, n_instruments)
        self.last_price = np.zeros(n, np.float64)
        self.last_ts = np.zeros(n, np.int64)
        self.last_seq = np.zeros(n, np.int64)
        self.clock = np.zeros(2, np.int64)
        self.pos_qty = np.zeros(n, np.int64)
        self.avg_price = np.zeros(n, np.float64)
        self.realised = np.zeros(n, np.float64)
        self.traded = np.zeros(n, np.bool_)
        self.fees_inr = 0.0
        # The IST trading day's realised P&L minus charges, fill by fill: what the daily loss limit
        # judges. `roll_day` starts it again at 0 on the first tick or event of a new IST day.
        self.realised_net = 0.0
        self.day_ns = 0               # IST midnight of the day realised_net belongs to
        self.open_instr = np.zeros(0, np.int64)
        self.open_slot = np.full(n, -1, np.int64)
        self.scratch_px = np.zeros(n, np.float64)
        # Price alerts per instrument: a tick outside [lo, hi] is one the engine must settle.
        self.alert_lo = np.full(n, -np.inf, np.float64)
        self.alert_hi = np.full(n, np.inf, np.float64)

    # `.item(k)`, not int(clock[k]): a Python int without a numpy scalar in between (2/3 of the
    # cost; the clock is read several times per order event). No attribute is added for a faster
    # view: every attribute here is state that orders/snapshot.py pickles.
    @property
    def clock_ns(self) -> int:
        return self.clock.item(0)

    @property
    def tick_seq(self) -> int:
        return self.clock.item(1)

    def apply_fill(self, instrument: int, side: int, qty: int, price: float,
                   fees_inr: float) -> None:
        """Average-cost accounting of one of the engine's own fills."""
        k = instrument
        before = self.realised.item(k)        # .item: the Python float/int, no numpy scalar
        q, avg, realised = apply_trade(self.pos_qty.item(k), self.avg_price.item(k), before,
                                       side * qty, price)
        self.pos_qty[k], self.avg_price[k], self.realised[k] = q, avg, realised
        self.traded[k] = True
        self.fees_inr += fees_inr
        self.realised_net += (realised - before) - fees_inr
        if (q != 0) != (self.open_slot[k] >= 0):
            self._reindex_open()      # k opened or closed; a fill that only resizes changes neither

    def roll_day(self, ts_ns: int) -> bool:
        """Start a new IST day's P&L if `ts_ns` (market time) is on a later day; True if it did.

        Positions carried over (none, when the square-off runs) keep their average price, so their
        mark-to-market counts in the new day from that price.
        """
        day = ist_midnight_ns(ts_ns) if ts_ns > 0 else 0
        if day <= self.day_ns:
            return False
        rolled = self.day_ns != 0
        self.day_ns, self.realised_net = day, 0.0
        return rolled

    def _reindex_open(self) -> None:
        # ndarray.nonzero, not np.flatnonzero (the same for a 1-D array, without its Python-level
        # ravel/nonzero wrappers): 1.4 us instead of 3.2.
        self.open_instr = self.pos_qty.nonzero()[0].astype(np.int64)
        self.open_slot.fill(-1)
        self.open_slot[self.open_instr] = np.arange(len(self.open_instr))

    def day_pnl(self) -> float:
        """Realised minus charges plus mark-to-market at the last prices (rupees)."""
        if not len(self.open_instr):
            return float(self.realised_net)   # what pnl_of returns, without the kernel's dispatch
        px = self.last_price[self.open_instr]
        return float(pnl_of(self.realised_net, self.open_instr, self.pos_qty, self.avg_price, px))

    def unrealised(self) -> float:
        priced = self.last_price > 0.0
        return float(np.sum((self.pos_qty * (self.last_price - self.avg_price))[priced]))

    def gross_exposure(self) -> float:
        """Sum of |position| x last price over the open positions (the average price until an
        instrument has one), rupees."""
        if not len(self.open_instr):
            return 0.0                        # what gross_of returns, without the kernel's dispatch
        return float(gross_of(self.open_instr, self.pos_qty, self.last_price, self.avg_price))

    # ---------------------------------------------------------------- snapshot of the market part

    def market_snapshot(self) -> np.ndarray:
        """MARKET_DTYPE rows, one per instrument, and a last row of (0, clock, last tick seq)."""
        snap = np.zeros(len(self.last_price) + 1, MARKET_DTYPE)
        snap["last_price"][:-1] = self.last_price
        snap["last_ts_ns"][:-1] = self.last_ts
        snap["last_seq"][:-1] = self.last_seq
        snap[-1] = (0.0, self.clock[0], self.clock[1])
        return snap

    def load_market(self, snap: np.ndarray) -> None:
        """Restore the market part from `market_snapshot()` output (same instrument count)."""
        if len(snap) != len(self.last_price) + 1:
            raise ValueError(f"market snapshot has {len(snap)} rows, "
                             f"expected {len(self.last_price) + 1}")
        self.last_price[:] = snap["last_price"][:-1]
        self.last_ts[:] = snap["last_ts_ns"][:-1]
        self.last_seq[:] = snap["last_seq"][:-1]
        self.clock[0] = snap["last_ts_ns"][-1]
        self.clock[1] = snap["last_seq"][-1]
