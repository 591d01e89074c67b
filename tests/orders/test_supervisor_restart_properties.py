"""A SUPERVISOR restart at any point of any market, searched by hypothesis.

Unlike a stage restart (tests/orders/test_engine_properties.py), a supervisor restart loses the
market snapshot and the tick ring: the new run's ring starts above the old marks, so the engine has
nothing to re-read, and the ticks of the down time reach only the broker (whose orders go on
filling: an entry, a stop, a target). The orders engine is killed at a random point of its journal,
the broker alone sees the next 0-30 ticks, the engine is restored from the journal with no market
snapshot and told where its new ring starts, and — before any new tick, as the stage's loop does —
polls the broker. Then:

- the engine's positions are the broker's (no fill made while nothing ran is lost or left unread:
  the start reconciliation would otherwise "confirm" it as a difference and halt);
- every open bracket quantity has its stop working (the OCO is not blind until the first tick);
- no client order id is sent twice; exits of an OCO never fill more than the entry — except a pair
  that both filled while nothing ran (with nobody to cancel the other leg, both exits of a
  client-managed pair can fill in the down time itself: the down time's risk, not the restart's).
  A stop the broker triggered while down but has not filled (a gap through its limit) is read
  before the first new tick and its target canceled: the first new tick, back through both, must
  not fill both (it did before the broker's "triggered" was read);
and after every later tick the engine invariants of the stage-restart property hold (positions
within the limit, stops covering open quantity, the daily loss figure from the fills).
"""

import tempfile

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st

from tests.orders.test_engine_determinism import Crash, crashing_journal
from tests.orders.test_engine_properties import (
    EXAMPLES,
    PROPERTY,
    check_after_tick,
    check_journal,
    limits,
    make_desk,
    markets,
)

# A third of the stage-restart property's examples: each one runs the market twice.
SEARCH = PROPERTY.__class__(PROPERTY, max_examples=max(1, EXAMPLES // 3))


def broker_positions(desk) -> dict[int, int]:
    symbols = [s.decode() for s in desk.rows["symbol"]]
    return {symbols.index(p.symbol): p.qty for p in desk.paper.positions() if p.qty}


def engine_positions(desk) -> dict[int, int]:
    return {k: q for k, (q, _, _) in desk.engine.positions().items() if q}


def count_events(ticks, intents, mod, options, loss_limit) -> int:
    with tempfile.TemporaryDirectory() as d:
        desk = make_desk(d, mod, options, loss_limit)
        try:
            for i in range(len(ticks)):
                tick = ticks[i:i + 1]
                desk.engine.advance(tick, [m for m in intents if m.tick_seq == tick["seq"][0]])
            return len(desk.events)
        finally:
            desk.close()


@SEARCH
@given(markets(), st.floats(0.0, 1.0), st.integers(0, 30))
def test_supervisor_restarted_anywhere_reads_the_broker_before_its_first_new_tick(
    market, where, down
):
    restart_once(market, where, down)


def restart_once(market, where: float, down: int) -> list:
    """Run `market`, SIGKILL everything at `where` (0..1) of the journal, let the broker alone see
    `down` ticks, restart; check after the restart and after every tick. The journal."""
    ticks, intents, mod, options, loss_limit = market
    n_events = count_events(ticks, intents, mod, options, loss_limit)
    if n_events < 2:
        return []
    lim = limits(loss_limit)
    journal, emit = crashing_journal(int(where * (n_events - 1)))

    by_seq: dict[int, list] = {}
    for it in intents:
        by_seq.setdefault(it.tick_seq, []).append(it)
    with tempfile.TemporaryDirectory() as d:
        desk = make_desk(d, mod, options, loss_limit, emit=emit)
        desk.events = journal           # what check_after_tick reads the fills from
        try:
            i, restarted, unwatched = 0, False, set()
            while i < len(ticks):
                tick = ticks[i:i + 1]
                try:
                    desk.engine.advance(tick, by_seq.get(int(tick["seq"][0]), []))
                except Crash:
                    # Everything died after the broker matched tick i. The market goes on: the
                    # broker alone sees the down time's ticks (their intents are lost with signals).
                    gone = ticks[i + 1:i + 1 + down]
                    for r in range(len(gone)):
                        desk.paper.on_ticks(gone, r, r + 1)
                    if any(st[0] and not st[1] for st in exits_state(desk).values()):
                        event("a stop triggered unfilled while down")
                    i += 1 + len(gone)
                    desk.restart(journal, market=None, emit=emit)
                    desk.events = journal
                    last = int(ticks[-1]["seq"])
                    first_new = int(ticks[i]["seq"]) if i < len(ticks) else last + 1
                    desk.engine.next_tick_is(first_new)    # the new ring starts above the marks
                    desk.engine.poll_broker()
                    unwatched = overexited(desk)
                    check_restarted(desk, lim, unwatched)
                    restarted = True
                    event(f"down {min(len(gone), 3)}+ ticks")
                    continue
                check_after_tick(desk, tick, lim, unwatched)
                i += 1
            assert restarted
            check_journal(journal, lim)
            assert engine_positions(desk) == broker_positions(desk)
            return journal
        finally:
            desk.close()


def exits_state(desk) -> dict:
    """client order id -> (triggered, filled) of every order at the paper broker."""
    return {o.client_order_id: (o.triggered, o.filled_qty)
            for o in desk.paper._book.orders.values()}


def overexited(desk) -> set:
    """Brackets whose exits the broker filled beyond their entries (counted at the broker)."""
    filled = {o.client_order_id: o.filled_qty for o in desk.paper._book.orders.values()}
    out = set()
    for b in desk.engine.desk.brackets.values():
        entry = sum(filled.get(c, 0) for c in b.entries)
        if sum(filled.get(c, 0) for c in b.stops + b.targets) > entry:
            out.add(b.intent_id)
    return out


def check_restarted(desk, lim, unwatched) -> None:
    eng = desk.engine
    assert eng.catchup_seq == 0, "waiting for a tick the new ring will never hold"
    assert engine_positions(desk) == broker_positions(desk), (
        engine_positions(desk), broker_positions(desk))
    ids = [o.client_order_id for o in desk.paper.orders()]
    assert len(ids) == len(set(ids)), "a client order id sent twice"
    if engine_positions(desk):
        event("restarted with a position open")
    check_after_tick(desk, None, lim, unwatched)
    assert np.all(np.abs(eng.exposure.pos_qty) <= lim.max_position_qty)


def test_a_square_off_the_dead_process_had_begun_is_placed_by_the_restarted_one_at_once(tmp_path):
    """Found by the search above: killed while placing the 15:10 square-off, restarted by a new
    supervisor (no market snapshot). Its market clock stayed at 0 (PRE_OPEN: no square-off due)
    while its next wake-up came from the journal's time (15:10 → the next boundary, 15:30): the
    first new tick, 15:10:01, woke nothing, and the position was left open until the close."""
    import numpy as np

    from common.dtypes import TICK_DTYPE
    from common.messages import OrderSubmitting
    from tests.orders.stubs import intent, ist_ns

    times = [ist_ns(14, 50), ist_ns(14, 50, 1), ist_ns(15, 10), ist_ns(15, 10, 1),
             ist_ns(15, 10, 2)]
    ticks = np.zeros(len(times), TICK_DTYPE)
    ticks["seq"] = np.arange(1, len(times) + 1)
    ticks["ts_event_ns"] = ticks["ts_recv_ns"] = times
    ticks["price"], ticks["qty"] = 100.0, 1
    journal: list = []
    crash = [True]

    def emit(msg):
        if crash and isinstance(msg, OrderSubmitting) and msg.role == "SQUAREOFF":
            crash.pop()
            raise Crash()
        journal.append(msg)

    desk = make_desk(str(tmp_path), 0, {}, 1e9, emit=emit)
    try:
        desk.engine.advance(ticks[:2], [intent(1, qty=1, ts_ns=times[0])])
        assert desk.engine.positions()[0][0] == 1
        try:
            desk.engine.advance(ticks[2:3])
            raise AssertionError("the square-off was not begun at 15:10")
        except Crash:
            pass
        desk.restart(journal, market=None, emit=emit)
        desk.engine.next_tick_is(4)
        desk.engine.poll_broker()
        desk.engine.advance(ticks[3:4])                   # 15:10:01
        closes = [m for m in journal if isinstance(m, OrderSubmitting) and m.role == "SQUAREOFF"]
        assert len(closes) == 1, journal[-5:]
    finally:
        desk.close()


def test_a_stop_that_triggered_unfilled_while_down_has_its_target_canceled_before_the_first_tick(
    tmp_path,
):
    """The down time's gap: a long's SL stop (trigger 98, limit 97.90) triggered at 97.85 while
    nothing ran, and did not fill. The first tick after the restart is 103.50, through both the
    stop's limit and the target (103): both would fill, selling the same shares twice (short 10).
    The restarted engine reads the broker's "triggered" before that tick and cancels the target."""
    from common.dtypes import TICK_DTYPE
    from tests.orders.stubs import intent, ist_ns

    prices = [100.0, 100.0, 100.0, 97.85, 103.5, 103.5]
    ticks = np.zeros(len(prices), TICK_DTYPE)
    ticks["seq"] = np.arange(1, len(prices) + 1)
    ticks["ts_event_ns"] = ticks["ts_recv_ns"] = [ist_ns(10, 0, s) for s in range(len(prices))]
    ticks["price"], ticks["qty"] = prices, 1
    journal: list = []
    desk = make_desk(str(tmp_path), 0, {"stop_order_type": "SL"}, 1e9, emit=journal.append)
    try:
        entry = intent(1, qty=4, stop_loss=98.0, target=103.0, ts_ns=int(ticks["ts_event_ns"][0]))
        desk.engine.advance(ticks[:3], [entry])
        assert desk.engine.positions()[0][0] == 4
        assert {o.order_type for o in desk.paper.orders() if o.status == "ACCEPTED"} == \
            {"SL", "LIMIT"}, desk.paper.orders()
        desk.paper.on_ticks(ticks, 3, 4)                   # down: only the broker sees 97.85
        assert [o.triggered for o in desk.paper.orders() if o.order_type == "SL"] == [True]
        desk.restart(journal, market=None, emit=journal.append)
        desk.engine.next_tick_is(5)
        desk.engine.poll_broker()
        desk.engine.advance(ticks[4:])
        assert broker_positions(desk) == {}, broker_positions(desk)     # flat, not short 4
        assert engine_positions(desk) == {}
    finally:
        desk.close()
