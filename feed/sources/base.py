"""The one interface every tick source implements (sim, replay, kite, upstox).

The feed stage owns the ring writer; a source only turns its input into TICK_DTYPE rows.
A source fills `out` with rows whose `seq` is 0 (the ring writer assigns sequence numbers) and whose
`ts_recv_ns` is set when the bytes arrived. Malformed input is counted in `stats` and dropped, never
raised: one bad row or frame must not stop the feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class EndOfFeed(Exception):
    """A finite source (a replay file, a sim with max_ticks) has delivered its last tick."""


@dataclass
class SourceStats:
    received: int = 0          # rows handed to the ring
    dropped_malformed: int = 0  # bad rows, NaN or non-positive prices, undecodable frames
    dropped_unknown: int = 0   # instruments not in the instrument table
    dropped_out_of_order: int = 0
    reconnects: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "extra"}
        d.update(self.extra)
        return d


class TickSource:
    """Base class; subclasses override open/read/close."""

    name = "base"
    # Whose time the ticks' ts_event_ns is (feed/sanity.py judges them by it): "wall" for live
    # sources, "recording" (replay) or "synthetic" (sim). The last two are deterministic — the same
    # ticks in the same order on every run — so a restarted feed re-reads and re-screens what an
    # earlier life published instead of trusting a raw skip count (feed/stage.py).
    clock = "wall"

    @property
    def deterministic(self) -> bool:
        return self.clock != "wall"

    def __init__(self) -> None:
        self.stats = SourceStats()

    def open(self, instruments, start_after: int = 0) -> None:
        """Connect or open files. `instruments` is a common.instruments.InstrumentTable.

        `start_after`: skip that many ticks first (sim, replay; live sources ignore it). The feed
        stage passes 0 to a deterministic source and re-reads instead: the sanity filter may have
        dropped some of the ticks before the restart point, so only re-screening them finds that
        point.
        """

    def read(self, out: np.ndarray, timeout_s: float) -> int:
        """Block up to `timeout_s` for ticks; write up to len(out) rows into out[:n] and return n.

        Returns 0 on timeout (the caller heartbeats and calls again). Raises EndOfFeed when a finite
        source is exhausted.
        """
        raise NotImplementedError

    def pace(self, on: bool) -> None:
        """Pacing on (the default) or off (deliver as fast as possible: a restarted feed catching up
        with what it already published). Turning it on restarts the pace from now. Live sources have
        no pace of their own: a no-op."""

    def close(self) -> None:
        """Release sockets, threads and files. Must be safe to call twice."""
