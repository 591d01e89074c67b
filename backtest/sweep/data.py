"""The sweep's tick data: the replay file read once, into one numpy array every cell shares.

    data = TickData.load(config)       # in the driver: ReplaySource, unpaced, the whole file
    ref = ray.put(data.ticks)          # once; each worker maps it read-only, zero-copy
    tape = ArrayTape(config, ticks, data.source_drops, first_day, last_day)   # in a cell

`ticks` are the rows exactly as the replay source hands them to the feed (file order, rows it counts
as malformed or of unknown instruments already dropped). ArrayTape then does what backtest/tape.py's
Tape does after its read, with the same code: keep the session window, run the feed's sanity filter
(feed/sanity.py, whose decisions do not depend on batch cuts), number the survivors 1, 2, 3, ...
So a cell equals `python -m backtest --from --to` on the same file, tick for tick.

The object store's copy is read-only, and the sanity filter compacts rows in place, so each chunk is
copied into the cell's own buffer first (CHUNK rows at a time: bounded memory whatever the file).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from common.clock import IST_OFFSET_NS
from common.dtypes import TICK_DTYPE
from common.instruments import instrument_rows
from feed.sanity import TickSanity, drop_counters
from feed.sources.replay import ReplaySource

from backtest.tape import CHUNK, DAY_NS, local_instruments

_EPOCH_DAY = np.datetime64("1970-01-01", "D")


def ist_days(ts_event_ns: np.ndarray) -> np.ndarray:
    """IST calendar day number (days since 1970-01-01) of each timestamp."""
    return (ts_event_ns + IST_OFFSET_NS) // DAY_NS


def day_text(day: int) -> str:
    return str(_EPOCH_DAY + int(day))


@dataclass
class TickData:
    ticks: np.ndarray          # TICK_DTYPE, file order, seq 0
    source_drops: dict         # the replay source's own drop counters (rows never in `ticks`)
    # of `ticks` (time, instrument, prices, sizes): the data in a cell's key
    sha256: str

    @classmethod
    def load(cls, config) -> "TickData":
        """Every usable row of config.feed.replay; ReplayFileError (a ConfigError) if it cannot be
        read."""
        replay = config.feed.replay
        source = ReplaySource(replay.path, replay.format, speed=0.0, sanity=config.feed.sanity)
        source.open(local_instruments(instrument_rows(config)))
        source.pace(False)
        ticks = np.zeros(source.total, dtype=TICK_DTYPE)
        try:
            n = source.read(ticks, timeout_s=0.0)
        finally:
            source.close()
        ticks = ticks[:n]
        ticks["ts_recv_ns"] = 0      # a reading of this process's clock: not data, not in the hash
        stats = source.stats
        drops = {
            "dropped_malformed": stats.dropped_malformed,
            "dropped_unknown": stats.dropped_unknown,
            "dropped_out_of_order": stats.dropped_out_of_order,
        }
        return cls(ticks, drops, hashlib.sha256(ticks.tobytes()).hexdigest())

    def sessions(self) -> list[str]:
        """The IST days that hold ticks, in order (YYYY-MM-DD): walk-forward counts these."""
        return [day_text(d) for d in np.unique(ist_days(self.ticks["ts_event_ns"]))]


class ArrayTape:
    """backtest/tape.py's Tape over ticks already in memory (same interface, same ticks)."""

    def __init__(self, config, ticks: np.ndarray, source_drops: dict, first_day: int | None = None,
                 last_day: int | None = None):
        self.ticks = ticks
        self.source_stats = SimpleNamespace(**source_drops)
        self.sanity = TickSanity(config.feed.sanity, [i.ref_price for i in config.instruments],
                                 clock=ReplaySource.clock, batch=CHUNK)
        self.first_day, self.last_day = first_day, last_day
        self.outside_window = 0
        self.next_seq = 1
        self._n = 0

    @property
    def total_rows(self) -> int:
        return len(self.ticks)

    def chunks(self):
        """Yield (rows consumed, TICK_DTYPE ticks with seqs), as Tape.chunks does."""
        rows_of = self._window()
        for lo in range(0, self._n, CHUNK):
            hi = min(lo + CHUNK, self._n)
            # a private, writable copy: screen() compacts
            rows = rows_of(lo, hi)
            kept = self.sanity.screen(rows)
            rows = rows[:kept]
            rows["seq"] = np.arange(self.next_seq, self.next_seq + kept, dtype=np.int64)
            self.next_seq += kept
            yield hi - lo, rows

    def _window(self):
        """The rows of the window (before the sanity filter, as Tape keeps them): `rows_of(lo, hi)`
        copies the window's rows lo..hi; `_n` is how many the window holds."""
        if self.first_day is None and self.last_day is None:
            self._n = len(self.ticks)
            return lambda lo, hi: np.array(self.ticks[lo:hi])
        days = ist_days(self.ticks["ts_event_ns"])
        inside = np.ones(len(days), np.bool_)
        if self.first_day is not None:
            inside &= days >= self.first_day
        if self.last_day is not None:
            inside &= days <= self.last_day
        index = np.flatnonzero(inside)
        self._n = len(index)
        self.outside_window = len(self.ticks) - len(index)
        return lambda lo, hi: self.ticks[index[lo:hi]]

    def drops(self) -> dict[str, int]:
        return drop_counters(self.source_stats, self.sanity)

    def close(self) -> None:
        pass
