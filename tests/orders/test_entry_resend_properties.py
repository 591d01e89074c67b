"""An entry reaches the broker only while the session allows a new entry, and every order reaches
it at most once: placements refused by the adapter's throttle (never sent), lost before or after
the broker got them, and the orders process killed anywhere and restarted, on any market.

The engine's journal is not the witness here (a restarted engine stamps what it does with the dead
process's market clock): the paper broker is. Every placement that reaches it is checked at that
moment against the session as it really is then — the market time of the last tick applied, or,
for a placement made while a restarted process resolves its orders, the time of the next tick
(the process is back just before it) — and against the engine's trading state and day P&L:

- an ENTRY only on the IST day of its intent, before the entry cut-off, trading ACTIVE, no
  flatten or square-off under way, the day's loss above the limit;
- no client order id twice; every order settled in the end.
"""

import tempfile

from hypothesis import given
from hypothesis import strategies as st

from common.clock import ist_midnight_ns
from common.errors import THROTTLED, BrokerRetryable
from common.messages import OrderInDoubt
from orders.limits import PHASE_NO_ENTRY
from tests.orders.test_engine_determinism import Crash
from tests.orders.test_engine_properties import PROPERTY, limits, make_desk, markets

FAILURES = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from(["throttled", "before", "after"])),
    max_size=6, unique_by=lambda f: f[0])


class Witness:
    """Between the flaky wrapper and the paper broker: sees what really reaches the broker."""

    def __init__(self, inner, harness):
        self.inner, self.harness = inner, harness
        self.capabilities = inner.capabilities

    def place(self, req):
        self.harness.check(req)
        return self.inner.place(req)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Harness:
    def __init__(self, ticks, intents, loss_limit):
        self.ticks, self.limits = ticks, limits(loss_limit)
        self.intent_day = {m.intent_id: ist_midnight_ns(int(ticks["ts_event_ns"][m.tick_seq - 1]))
                           for m in intents}
        self.desk = None
        self.next_tick = 0              # index of the tick to be applied next
        self.restarting = False

    def now(self) -> int:
        if self.restarting:             # back just before the next tick, if there is one
            return int(self.ticks["ts_event_ns"][min(self.next_tick, len(self.ticks) - 1)])
        return self.desk.engine.clock_ns

    def check(self, req) -> None:
        eng = self.desk.engine
        order = eng.book.orders[req.client_order_id]
        if order.role != "ENTRY":
            return
        now = self.now()
        where = (order.intent_id, now, self.restarting)
        assert ist_midnight_ns(now) == self.intent_day[order.intent_id], ("another day", where)
        assert self.limits.phase(now) < PHASE_NO_ENTRY, ("after the cut-off", where)
        assert eng.trading_state == "ACTIVE" and not eng.flattening, ("not active", where)
        assert eng.exposure.day_pnl() > -self.limits.daily_loss_limit_inr, ("loss limit", where)


def crashing_journal(crash_at, after_doubts):
    """(journal, emit): the process is killed once, at the event that would become the journal's
    `crash_at`-th, or at the first event after its `after_doubts`-th OrderInDoubt (an order in doubt
    at the kill is what a restart must resolve)."""
    journal: list = []
    armed = [True]

    def emit(msg):
        if after_doubts is None:
            due = len(journal) == crash_at
        else:
            due = sum(1 for m in journal if isinstance(m, OrderInDoubt)) == after_doubts
        if armed[0] and crash_at is not None and due:
            armed[0] = False
            raise Crash()
        journal.append(msg)

    return journal, emit


def run(directory, market, failed, crash):
    ticks, intents, mod, options, loss_limit = market
    failures = {n: ("before", BrokerRetryable("throttled (client-side limit)", code=THROTTLED))
                if kind == "throttled" else (kind, BrokerRetryable("read timeout"))
                for n, kind in failed}
    h = Harness(ticks, intents, loss_limit)
    journal, emit = crashing_journal(*crash)
    desk = make_desk(directory, mod, options, loss_limit, emit=emit, failures=failures)
    flaky = desk.wrap
    desk.wrap = lambda paper: flaky(Witness(paper, h))
    h.desk = desk
    desk.restart(journal, market=None, emit=emit)       # the witness in place (nothing to restore)
    by_seq: dict[int, list] = {}
    for it in intents:
        by_seq.setdefault(it.tick_seq, []).append(it)
    snapshot, crashed = desk.engine.market_snapshot(), False
    while h.next_tick < len(ticks):
        i = h.next_tick
        try:
            if crashed:
                crashed, h.restarting = False, True
                desk.restart(journal, market=snapshot, emit=emit)
                h.restarting = False
            snapshot = desk.engine.market_snapshot()
            desk.engine.advance(ticks[i:i + 1], by_seq.get(int(ticks["seq"][i]), []))
            h.next_tick += 1
        except Crash:
            crashed, h.restarting = True, False
    return desk


@PROPERTY
@given(markets(), FAILURES, st.one_of(st.just((None, None)),
                                      st.tuples(st.integers(0, 300), st.none()),
                                      st.tuples(st.just(0), st.integers(1, 3))))
def test_entries_reach_the_broker_only_while_allowed_and_every_order_once(market, failed, crash):
    with tempfile.TemporaryDirectory() as d:
        desk = run(d, market, failed, crash)
        try:
            assert desk.paper._book.duplicate_client_ids == 0
            coids = [o.client_order_id for o in desk.paper.orders()]
            assert len(coids) == len(set(coids))
            assert not desk.engine.book.unresolved()
        finally:
            desk.close()
