"""A restarted engine reads the market clock it restored: from a snapshot plus the journal's tail
and a market snapshot, its clock (and so every event it journals next, and the session phase it
judges) is the uninterrupted engine's. Written by a reviewer of the engine's speed changes, where
the engine briefly kept its own reference to the exposure's clock array: any restore that replaced
the array would have left it reading a stale clock (0 after a restart)."""

import numpy as np

from orders import snapshot
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.scenario import batches, desk_options, market_day
from tests.orders.stubs import Desk


def _fresh(desk) -> OrderEngine:
    def never(msg):
        raise AssertionError(f"emitted {msg!r}")
    return OrderEngine(desk.rows, desk.limits, FeeSchedule("zerodha"), None, never,
                       stop_order_type=desk.stop_order_type)


def test_a_restored_engine_reads_the_clock_it_restored_from_a_snapshot_tail_and_market(tmp_path):
    ticks, intents = market_day(0, n_ticks=1200, n_intents=12)
    desk = Desk(str(tmp_path), **desk_options())
    for t, its in batches(ticks, intents, [400, 800]):
        desk.engine.advance(t, its)
    journal, market = list(desk.events), desk.engine.market_snapshot()
    desk.close()

    shadow = _fresh(desk)
    for msg in journal[:len(journal) // 2]:
        shadow._apply(msg)
    cap = snapshot.Capture(shadow, size=3)
    while not cap.step(0):
        pass
    engine = _fresh(desk)
    snapshot.put(engine, cap.payload())
    engine.restore(journal[len(journal) // 2:], market=market)

    assert engine.clock_ns == max(int(market[-1]["last_ts_ns"]), engine._marked_ns)
    assert engine.clock_ns == max(desk.engine.exposure.clock_ns, desk.engine._marked_ns)
    assert np.array_equal(engine.exposure.clock, desk.engine.exposure.clock)
