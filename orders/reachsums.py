"""ReachSums: per instrument, the sum of its active brackets' shares of `BracketDesk.reachable`.

Risk asks for an instrument's reach on every intent, and a busy day keeps dozens of brackets open
on each instrument (resting legs). A bracket's share (up, down) changes only when one of its orders
does, by an event, and every event touches its bracket; so a share is computed once, kept in its
instrument's sum, and taken out of the sum when the bracket is touched (`stale`) or leaves the
active set (`drop`). A check then costs the brackets touched since the last check on that
instrument, not every bracket open on it. The sums are of integers: adding and taking out never
drifts.

Imports nothing: the desk gives the brackets and the function that computes a share.
"""

from collections.abc import Callable
from typing import Generic, TypeVar

B = TypeVar("B")      # the desk's Bracket


class ReachSums(Generic[B]):
    def __init__(self):
        self._share: dict[str, tuple[int, int]] = {}      # bracket id -> its share in the sum
        self._sum: dict[int, tuple[int, int]] = {}        # instrument -> sum of its shares
        self._stale: dict[int, dict[str, B]] = {}         # instrument -> brackets not in the sum

    def stale(self, instrument: int, bracket_id: str, bracket: B) -> None:
        """An active bracket is new or was touched: its share is computed again when asked."""
        waiting = self._stale.get(instrument)
        if waiting is not None and bracket_id in waiting:
            # Touched again before anyone asked (most touches): already out of the sum. The
            # latest object stands, as a fresh `stale` would leave it; its place in line is kept.
            waiting[bracket_id] = bracket
            return
        self._take_out(instrument, bracket_id)
        if waiting is None:
            waiting = self._stale[instrument] = {}
        waiting[bracket_id] = bracket

    def drop(self, instrument: int, bracket_id: str) -> None:
        """The bracket is no longer active: it counts no more."""
        self._take_out(instrument, bracket_id)
        self._stale.get(instrument, {}).pop(bracket_id, None)

    def clear(self) -> None:
        self._share.clear()
        self._sum.clear()
        self._stale.clear()

    def total(self, instrument: int,
              share_of: Callable[[B], tuple[int, int]]) -> tuple[int, int]:
        """(up, down) over the instrument's active brackets; `share_of(bracket)` for stale ones."""
        up, down = self._sum.get(instrument, (0, 0))
        stale = self._stale.pop(instrument, None)
        for bracket_id, bracket in (stale or {}).items():
            share = self._share[bracket_id] = share_of(bracket)
            up, down = up + share[0], down + share[1]
        self._sum[instrument] = (up, down)
        return up, down

    def _take_out(self, instrument: int, bracket_id: str) -> None:
        share = self._share.pop(bracket_id, None)
        if share is not None:
            up, down = self._sum[instrument]
            self._sum[instrument] = (up - share[0], down - share[1])
