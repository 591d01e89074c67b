"""The desk plans only touched brackets; that must never change what is planned.

On every call, the incremental plan is compared with a plan over every active bracket (the
level-triggered definition), through a whole seeded market day with partial fills, slices, OCO,
halts and a restart. A bracket the engine forgot to touch after one of its orders changed shows up
here as a missing Place / Modify / Cancel.
"""

import pytest

from orders.brackets import BracketDesk
from tests.orders.scenario import desk_options, market_day
from tests.orders.stubs import Desk


class CheckedDesk:
    """Wraps a BracketDesk's plan: compute the full plan first, then the incremental one."""

    def __init__(self, desk: BracketDesk):
        self.desk, self.calls, self.planned = desk, 0, 0
        self._plan = desk.plan
        desk.plan = self.plan

    def plan(self, book, halted, past_cutoff=False, reducing=False):
        full = [a for b in list(self.desk.active.values())
                for a in self.desk.plan_bracket(b, book, halted or past_cutoff or reducing)]
        actions = self._plan(book, halted, past_cutoff, reducing)
        mine = [a for a in actions if not (type(a).__name__ == "Cancel"
                                          and book.orders[a.client_order_id].role == "ENTRY"
                                          and a.reason in ("trading halted", "the entry cut-off"))]
        assert mine == full, f"incremental plan differs at call {self.calls}"
        self.calls += 1
        self.planned += bool(actions)
        return actions


def _run(tmp_path, seed, halt_at=None):
    ticks, intents = market_day(seed)
    desk = Desk(str(tmp_path), **desk_options())
    checked = CheckedDesk(desk.engine.desk)
    cut = len(ticks) if halt_at is None else halt_at
    desk.engine.advance(ticks[:cut], [m for m in intents if m.tick_seq <= ticks["seq"][cut - 1]])
    if halt_at is not None:
        desk.engine.set_trading_state("HALTED", "test halt")
        desk.engine.advance(ticks[cut:cut + 200])
        desk.engine.set_trading_state("ACTIVE", "test resume")
        desk.engine.advance(
            ticks[cut + 200 :], [m for m in intents if m.tick_seq > ticks["seq"][cut - 1]]
        )
    return desk, checked


@pytest.mark.parametrize("seed", (0, 1, 2))
def test_incremental_plan_equals_the_full_plan_on_every_event_tick(tmp_path, seed):
    desk, checked = _run(tmp_path, seed)
    assert checked.calls > 100 and checked.planned > 20      # the day really exercised the planner
    assert len(desk.engine.desk.touched) <= len(desk.engine.desk.active)
    desk.close()


def test_incremental_plan_equals_the_full_plan_across_a_halt_and_resume(tmp_path):
    desk, checked = _run(tmp_path, 3, halt_at=400)
    assert checked.calls > 100
    desk.close()


def test_a_restored_desk_plans_every_open_bracket_again(tmp_path):
    ticks, intents = market_day(4)
    desk = Desk(str(tmp_path), **desk_options())
    desk.engine.advance(ticks[:600], [m for m in intents if m.tick_seq <= ticks["seq"][599]])
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    restored = desk.engine.desk
    assert restored.active, "the scenario leaves brackets open at the cut"
    assert set(restored.active) <= restored.touched
    desk.close()
