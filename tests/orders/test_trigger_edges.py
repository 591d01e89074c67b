"""Edges of a stop the broker reports triggered (orders/brackets.py: its target is canceled once
the broker says the stop triggered, filled or not): an orders stage restarted between the broker's
trigger and the engine's reaction, searched over every point of the journal.

`Order.triggered` is not journaled: a restarted engine reads it from the broker
(orders/recovery.py `final_statuses`). The engine that never died canceled the target at the tick
the stop triggered on; the restarted one must journal that cancel at the same tick, or the journal
(and a backtest of the same replay) differs from the uninterrupted run's.
"""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.dtypes import TICK_DTYPE
from common.messages import OrderCanceled, TicksProcessed
from tests.orders.stubs import Desk, intent, ist_ns
from tests.orders.test_engine_determinism import Crash, crashing_journal, outcome

SEARCH = settings(max_examples=int(os.environ.get("OTRADE_PROPERTY_EXAMPLES", "40")),
                  deadline=None, database=None,
                  derandomize=not os.environ.get("OTRADE_PROPERTY_RANDOM"),
                  suppress_health_check=[HealthCheck.too_slow])


def tape(prices) -> np.ndarray:
    ticks = np.zeros(len(prices), TICK_DTYPE)
    ticks["seq"] = np.arange(1, len(prices) + 1)
    ticks["ts_event_ns"] = ticks["ts_recv_ns"] = [ist_ns(10, 0, s) for s in range(len(prices))]
    ticks["price"], ticks["qty"] = prices, 1
    return ticks


def run(directory, ticks, intents, *, crash_at=None, cuts=(), **options) -> Desk:
    """The stage's way: batches cut at `cuts`; killed when the journal reaches `crash_at` events,
    restarted from the journal and the market snapshot taken at the start of that batch."""
    journal, emit = crashing_journal(crash_at)

    os.makedirs(directory, exist_ok=True)
    desk = Desk(directory, stop_order_type="SL", emit=emit, **options)
    edges = [0, *[c for c in cuts if 0 < c < len(ticks)], len(ticks)]
    b = 0
    while b < len(edges) - 1:
        part = ticks[edges[b]:edges[b + 1]]
        lo, hi = int(part["seq"][0]), int(part["seq"][-1])
        snapshot = desk.engine.market_snapshot()
        try:
            desk.engine.advance(part, [m for m in intents if lo <= m.tick_seq <= hi])
            b += 1
        except Crash:
            desk.restart(journal, market=snapshot, emit=emit)
    desk.events = journal
    return desk


def test_a_stage_killed_between_a_stop_trigger_and_its_target_cancel_journals_it_at_that_tick(
    tmp_path,
):
    """Long 4 at 100, SL stop 98 (limit 97.90), target 103. Tick 4 (97.85) triggers the stop
    without filling it: the engine cancels the target at tick 4. Killed as it journals tick 4's
    marker and restarted, the engine heard the trigger from the broker's book, not at tick 4: it
    canceled the target at the last tick its journal named (tick 2), two seconds earlier."""
    ticks = tape([100.0, 100.0, 100.0, 97.85, 97.85, 103.5, 103.5])
    entry = intent(1, qty=4, stop_loss=98.0, target=103.0, ts_ns=int(ticks["ts_event_ns"][0]))
    ref = run(str(tmp_path / "ref"), ticks, [entry])
    marker = next(i for i, m in enumerate(ref.events)
                  if isinstance(m, TicksProcessed) and m.upto_seq == 5)
    assert isinstance(ref.events[marker + 1], OrderCanceled)
    crashed = run(str(tmp_path / "crashed"), ticks, [entry], crash_at=marker)
    try:
        assert outcome(crashed) == outcome(ref)
    finally:
        ref.close()
        crashed.close()


@st.composite
def gappy_markets(draw):
    """A long or short bracket with an SL stop on a price path of small steps and gaps through
    the stop's trigger and limit; a thin book now and then."""
    side = draw(st.sampled_from([1, -1]))
    # In ticks of 0.05 from 100: the stop's trigger is 40 away, its limit 42; beyond 42 it
    # triggers and cannot fill, beyond 44 it is gapped through (orders/brackets.py `_gapped`).
    steps = draw(st.lists(st.sampled_from([-50, -45, -43, -42, -40, -2, 0, 2, 40, 42, 43, 45, 50,
                                           70]), min_size=3, max_size=16))
    level, prices = 2000, [100.0, 100.0]
    for s in steps:
        level = max(1000, level + s)
        prices.append(level / 20)
    ticks = tape(prices)
    qty = draw(st.integers(1, 6))
    stop = 100.0 - side * 2.0
    target = 100.0 + side * draw(st.sampled_from([0.0, 1.0, 3.0]))
    entry = intent(1, side=side, qty=qty, stop_loss=stop, target=target if target != 100.0 else 0,
                   ts_ns=int(ticks["ts_event_ns"][0]))
    options = dict(max_fill_qty_per_tick=draw(st.sampled_from([0, 0, 1, 2])))
    cut = draw(st.integers(1, len(ticks)))
    return ticks, [entry], options, list(range(cut, len(ticks), cut))


@SEARCH
@given(gappy_markets())
def test_a_stage_killed_at_any_event_around_stop_triggers_ends_as_the_uninterrupted_run(market):
    import tempfile
    ticks, intents, options, cuts = market
    with tempfile.TemporaryDirectory() as d:
        ref = run(os.path.join(d, "ref"), ticks, intents, cuts=cuts, **options)
        expected = outcome(ref)
        ref.close()
        for p in range(1, len(ref.events)):
            crashed = run(os.path.join(d, f"c{p}"), ticks, intents, crash_at=p, cuts=cuts,
                          **options)
            try:
                assert outcome(crashed) == expected, f"diverged after a crash at event {p}"
            finally:
                crashed.close()


class AsyncCancels:
    """The paper broker, with cancels confirmed later as a live broker's are: `cancel` cancels at
    the exchange at once but answers CANCEL_PENDING; the CANCELED report comes by `poll_events`
    once `release()` was called."""

    def __init__(self, inner):
        self.inner, self.capabilities = inner, inner.capabilities
        self.held: list = []
        self.released: list = []

    def cancel(self, broker_order_id):
        from orders import statemachine as sm
        from orders.brokers.base import BrokerAck

        ack = self.inner.cancel(broker_order_id)
        self.held.append(broker_order_id)
        return BrokerAck(ack.broker_order_id, ack.client_order_id, sm.CANCEL_PENDING)

    def release(self) -> None:
        by_id = {o.broker_order_id: o for o in self.inner.orders()}
        self.released += [by_id[b] for b in self.held]
        self.held = []

    def poll_events(self):
        out, self.released = self.inner.poll_events() + self.released, []
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_gapped_stop_canceled_unfilled_then_the_price_back_gets_a_new_stop_and_a_target(tmp_path):
    """Long 4 at 100, SL stop 98 (limit 97.90), target 103. 97.50 gaps through the stop's limit: the
    stop and target are canceled (confirmed later, as a live broker does). The confirmation is read
    at 99.00, back above the stop: no exit began (nothing filled), so the bracket is protected again
    by a new stop AND keeps its take-profit — a stop that triggered but was canceled unfilled must
    not leave the position without a target for the rest of the day."""
    from common.messages import OrderSubmitting

    ticks = tape([100.0, 100.0, 100.0, 97.5, 99.0, 99.0, 103.5])
    entry = intent(1, qty=4, stop_loss=98.0, target=103.0, ts_ns=int(ticks["ts_event_ns"][0]))
    held: dict = {}

    def wrap(paper):
        held["broker"] = AsyncCancels(paper)
        return held["broker"]

    events: list = []
    desk = Desk(str(tmp_path), stop_order_type="SL", emit=events.append, wrap=wrap)
    try:
        desk.engine.advance(ticks[:4], [entry])               # through 97.50: both canceled
        desk.engine.advance(ticks[4:5])                       # 99.00
        held["broker"].release()
        desk.engine.poll_broker()                             # the cancels are read at 99.00
        legs = [m.role for m in events if isinstance(m, OrderSubmitting)]
        assert sorted(legs) == ["ENTRY", "STOP", "STOP", "TARGET", "TARGET"], legs
        desk.engine.advance(ticks[5:])                        # 103.50: the target takes profit
        assert desk.engine.positions()[0][0] == 0
    finally:
        desk.close()
