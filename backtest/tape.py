"""The tick tape: a replay file → exactly the ticks a pipeline run's ring would carry, with their
seqs.

The pipeline's feed reads the file with the replay source (feed/sources/replay.py), passes every
batch through the tick sanity filter (feed/sanity.py) and publishes the survivors to the ring, whose
writer numbers them 1, 2, 3, ... (common/ringbuffer.py). The tape does the same three things with
the same code, in one process: `ReplaySource.read` (unpaced), `TickSanity.screen`, then seq
numbering. The filter's decisions depend only on the tick sequence, never on how it is cut into
batches (its docstring), so the tape's ticks are the ring's, tick for tick.

A session window (`--from` / `--to`, IST calendar days, inclusive) keeps only the rows of those days
BEFORE the sanity filter, so a windowed backtest is exactly a backtest of a file that holds only
those sessions (the filter's state starts from the instruments' ref_price, as a pipeline's would on
such a file), and seqs start at 1 again.

Only `ts_recv_ns` differs from a pipeline run: it is CLOCK_MONOTONIC when the row was handed over,
a reading of this process's clock (the pipeline's is the feed process's).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np

from common.clock import IST_OFFSET_NS, NS_PER_S, SECONDS_PER_DAY
from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.errors import ConfigError
from common.instruments import MAGIC, LAYOUT_VERSION, InstrumentTable
from common.shm import LAYOUT_BYTES, Layout, write_layout
from feed.sanity import TickSanity, drop_counters
from feed.sources.base import EndOfFeed
from feed.sources.replay import ReplaySource

CHUNK = 16384     # ticks read, screened and handed to the engines at a time
DAY_NS = NS_PER_S * SECONDS_PER_DAY


def local_instruments(rows: np.ndarray) -> InstrumentTable:
    """The instrument table over process memory instead of a shared-memory segment (same
    lookups)."""
    rows = np.asarray(rows, dtype=INSTRUMENT_DTYPE)
    buf = bytearray(LAYOUT_BYTES + max(1, len(rows)) * INSTRUMENT_DTYPE.itemsize)
    np.ndarray((len(rows),), INSTRUMENT_DTYPE, buf, LAYOUT_BYTES)[:] = rows
    write_layout(memoryview(buf), Layout(MAGIC, LAYOUT_VERSION, INSTRUMENT_DTYPE, len(rows)))
    return InstrumentTable(
        SimpleNamespace(name="backtest", buf=buf, close=lambda: None), creator=True
    )


def ist_day_number(day: str, field: str) -> int:
    """`YYYY-MM-DD` → days since 1970-01-01 (the IST calendar day); ConfigError naming `field`."""
    try:
        return (dt.date.fromisoformat(day) - dt.date(1970, 1, 1)).days
    except (TypeError, ValueError):
        raise ConfigError(f"{day!r} is not a date (YYYY-MM-DD)", path=field) from None


class Tape:
    """Screened, numbered ticks of `config.feed.replay`, CHUNK at a time (`chunks()`).

    first_day / last_day: IST days since the epoch to keep (inclusive; None = no bound).
    Raises ReplayFileError (a ConfigError) for a file that cannot be replayed, as the feed does.
    """

    def __init__(self, config, instruments: InstrumentTable, first_day: int | None = None,
                 last_day: int | None = None):
        replay = config.feed.replay
        self.source = ReplaySource(replay.path, replay.format, speed=0.0, sanity=config.feed.sanity)
        self.sanity = TickSanity(config.feed.sanity, [i.ref_price for i in config.instruments],
                                 clock=self.source.clock, batch=CHUNK)
        self.source.open(instruments)
        self.source.pace(False)
        self.first_day, self.last_day = first_day, last_day
        self.outside_window = 0      # rows of days outside --from/--to
        self.next_seq = 1

    @property
    def total_rows(self) -> int:
        """Usable rows of the file (before the window and the sanity filter): the progress bar's 100
        %."""
        return self.source.total

    def chunks(self):
        """Yield (rows read from the file, TICK_DTYPE ticks with seqs) until the file ends."""
        buf = np.zeros(CHUNK, dtype=TICK_DTYPE)
        while True:
            try:
                n = self.source.read(buf, timeout_s=0.0)
            except EndOfFeed:
                return
            rows = self._in_window(buf[:n])
            kept = self.sanity.screen(rows)
            ticks = rows[:kept].copy()
            ticks["seq"] = np.arange(self.next_seq, self.next_seq + kept, dtype=np.int64)
            self.next_seq += kept
            yield n, ticks

    def _in_window(self, rows: np.ndarray) -> np.ndarray:
        if self.first_day is None and self.last_day is None:
            return rows
        day = (rows["ts_event_ns"] + IST_OFFSET_NS) // DAY_NS
        keep = np.ones(len(rows), dtype=np.bool_)
        if self.first_day is not None:
            keep &= day >= self.first_day
        if self.last_day is not None:
            keep &= day <= self.last_day
        self.outside_window += int(len(rows) - keep.sum())
        return rows[keep]

    def drops(self) -> dict[str, int]:
        """Every drop counter, named as the feed stage names them (feed/stage.py `_drops`)."""
        return drop_counters(self.source.stats, self.sanity)

    def close(self) -> None:
        self.source.close()
