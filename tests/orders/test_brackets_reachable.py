"""The desk computes a bracket's share of `reachable` again only once it was touched; that must
never change what risk is told.

On every call (every intent risk judges), the answer is compared with the definition computed from
scratch over every active bracket and every working order, through seeded market days with partial
fills, slices, OCO, a halt and a restart. A change to an order that did not touch its bracket shows
up here as a stale position limit.
"""

import pytest

from orders.actions import coid_of_place
from orders.brackets import BracketDesk, open_qty
from orders.orderbook import CLOSE_ROLES
from tests.orders.scenario import desk_options, market_day
from tests.orders.stubs import Desk


def reachable_from_scratch(desk: BracketDesk, instrument: int, book) -> tuple[int, int]:
    up = down = 0
    for b in desk.active.values():
        if b.instrument != instrument:
            continue
        ahead = sum(p.qty for p in b.entry_plan if coid_of_place(p) not in book.orders)
        ahead += sum(book.orders[c].leaves for c in b.entries)
        back = open_qty(b, book) if (b.stop_loss > 0 or b.target > 0) else 0
        if b.side > 0:
            up, down = up + ahead, down + back
        else:
            up, down = up + back, down + ahead
    for o in book.working():
        if o.instrument == instrument and o.role in CLOSE_ROLES:
            if o.side > 0:
                up += o.leaves
            else:
                down += o.leaves
    return up, down


class CheckedReach:
    """Wraps a BracketDesk's reachable: the from-scratch answer first, then the desk's."""

    def __init__(self, desk: BracketDesk):
        self.desk, self.calls, self.nonzero = desk, 0, 0
        self._reachable = desk.reachable
        desk.reachable = self.reachable

    def reachable(self, instrument, book):
        want = reachable_from_scratch(self.desk, instrument, book)
        got = self._reachable(instrument, book)
        assert got == want, f"reachable differs at call {self.calls}: {got} != {want}"
        self.calls += 1
        self.nonzero += got != (0, 0)
        return got


@pytest.mark.parametrize("seed", (0, 1, 2))
def test_reachable_equals_the_from_scratch_sum_on_every_intent(tmp_path, seed):
    ticks, intents = market_day(seed)
    desk = Desk(str(tmp_path), **desk_options())
    checked = CheckedReach(desk.engine.desk)
    desk.engine.advance(ticks, intents)
    assert checked.calls > 20 and checked.nonzero > 5      # the day really had orders working
    desk.close()


def test_reachable_equals_the_from_scratch_sum_across_a_halt_and_a_restart(tmp_path):
    ticks, intents = market_day(5)
    desk = Desk(str(tmp_path), **desk_options())
    checked = CheckedReach(desk.engine.desk)
    first = [m for m in intents if m.tick_seq <= ticks["seq"][399]]
    desk.engine.advance(ticks[:400], first)
    desk.engine.set_trading_state("HALTED", "test halt")
    desk.engine.advance(ticks[400:500])
    desk.engine.set_trading_state("ACTIVE", "test resume")
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    restored = CheckedReach(desk.engine.desk)
    desk.engine.advance(ticks[500:], [m for m in intents if m.tick_seq > ticks["seq"][399]])
    assert checked.calls > 5 and restored.calls > 5
    desk.close()
