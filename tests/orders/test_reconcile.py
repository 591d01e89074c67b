"""Reconciliation (orders/reconcile.py, orders/reconciler.py) on hand-built views and a fake
engine/broker."""

from types import SimpleNamespace

import orjson

from common.errors import BrokerFatal, BrokerRetryable
from orders.reconcile import AccountView, Baseline, OrderRow, TradeRow, adopt, compare
from orders.reconciler import CONFIRM_S, FATAL_RETRY_S, RETRY_S, Reconciler

SYMBOLS = ("RELIANCE", "INFY")


def view(orders=(), trades=(), positions=None, fill_ids=()):
    return AccountView({o.client_order_id: o for o in orders}, tuple(trades), dict(positions or {}),
                       frozenset(fill_ids), SYMBOLS)


def order(coid, status="ACCEPTED", qty=2, filled=0, inst=0):
    return OrderRow(coid, inst, SYMBOLS[inst], status, qty, filled)


def kinds(diffs):
    return [(d.kind, d.symbol) for d in diffs]


def test_compare_when_both_views_agree_then_no_difference():
    ours = view([order("E1", filled=2, status="FILLED")], positions={0: 2}, fill_ids={"t1"})
    theirs = view([order("E1", filled=2, status="FILLED")], [TradeRow("t1", "E1", 0, 2)], {0: 2})
    assert compare(ours, theirs) == []


def test_compare_when_broker_has_a_working_order_of_ours_the_journal_lacks_then_it_is_named():
    diffs = compare(view(), view([order("EPLANTED")]))
    assert kinds(diffs) == [("unknown_working_order", "RELIANCE")]
    assert "EPLANTED" in diffs[0].describe()


def test_compare_when_broker_position_differs_then_position_differs_with_both_quantities():
    diffs = compare(view(positions={1: 3}), view(positions={1: 5}))
    assert kinds(diffs) == [("position_differs", "INFY")]
    assert "3 for us" in diffs[0].detail and "5 at the broker" in diffs[0].detail


def test_compare_when_we_think_working_and_broker_says_final_then_order_final_at_broker():
    diffs = compare(view([order("S1")]), view([order("S1", status="CANCELED")]))
    assert kinds(diffs) == [("order_final_at_broker", "RELIANCE")]


def test_compare_when_a_working_order_is_unknown_to_the_broker_then_order_missing_at_broker():
    assert kinds(compare(view([order("T1")]), view())) == [("order_missing_at_broker", "RELIANCE")]


def test_compare_when_filled_quantities_differ_then_fill_differs():
    diffs = compare(
        view([order("E1", "PARTIALLY_FILLED", filled=1)]),
        view([order("E1", "PARTIALLY_FILLED", filled=2)]),
    )
    assert kinds(diffs) == [("fill_differs", "RELIANCE")]


def test_compare_when_broker_has_a_trade_the_journal_lacks_then_unknown_trade():
    diffs = compare(
        view(fill_ids={"t1"}), view(trades=[TradeRow("t1", "E1", 0, 2), TradeRow("t9", "EX", 0, 1)])
    )
    assert kinds(diffs) == [("unknown_trade", "RELIANCE")] and "t9" in diffs[0].detail


def test_compare_when_the_order_is_in_doubt_then_its_differences_are_explained():
    ours = view([order("E1", status="IN_DOUBT")], positions={0: 0})
    theirs = view([order("E1", "FILLED", filled=2)], [TradeRow("t1", "E1", 0, 2)], {0: 2})
    assert compare(ours, theirs) == []


def test_adopt_when_broker_view_differs_then_the_baseline_explains_every_difference_and_no_more():
    ours = view([order("S1")], positions={0: 2})
    theirs = view(
        [order("S1", status="CANCELED"), order("EPLANTED", inst=1)], positions={0: 2, 1: -4}
    )
    baseline = adopt(ours, theirs, Baseline())
    assert compare(ours, theirs, baseline) == []
    assert baseline.position_offsets == {1: -4} and baseline.adopted_ids == {"S1", "EPLANTED"}
    # A later change at the broker is a difference again: the baseline is the adopted view, not a
    # mute.
    assert kinds(
        compare(ours, view(theirs.orders.values(), positions={0: 2, 1: -6}), baseline)
    ) == [("position_differs", "INFY")]
    assert Baseline.from_json(orjson.loads(orjson.dumps(baseline.to_json()))) == baseline


# -- the stateful part, with a fake engine and broker -------------------------------------------

class FakeTradingState:
    """The engine's trading state as the reconciler reads and sets it (OrderEngine journals the
    reasons of a halt the same way)."""

    trading_state, state_reason = "ACTIVE", ""
    halt_reasons: tuple[str, ...] = ()
    halt_ends_with_day = False          # HALTED by the daily loss limit only

    def set_trading_state(self, state, reason=""):
        held = self.halt_reasons if self.trading_state == "HALTED" else ()
        self.halt_reasons = (*held, reason) if state == "HALTED" else ()
        self.trading_state, self.state_reason = state, reason
        self.states.append((state, reason))

    def release_unreadable_entries(self, reason):
        return []                              # no flatten here, nothing in doubt for good


class FakeEngine(FakeTradingState):
    def __init__(self):
        self.book = SimpleNamespace(orders={}, fill_ids=set())
        self.qty = {}
        self.trading_state = "ACTIVE"
        self.states = []
        self.halt_ends_with_day = False          # HALTED by the daily loss limit only
        self.state_reason = ""
        self.halt_reasons: tuple[str, ...] = ()  # as OrderEngine journals them

    def positions(self):
        return {k: (v, 0.0, 0.0) for k, v in self.qty.items()}


class FakeBroker:
    def __init__(self):
        self.rows, self.pos, self.fail, self.canceled = [], {}, None, []

    def orders(self):
        if self.fail:
            raise self.fail
        return self.rows

    def trades(self):
        return []

    def positions(self):
        return [SimpleNamespace(instrument=k, qty=v) for k, v in self.pos.items()]

    def cancel(self, broker_order_id):
        self.canceled.append(broker_order_id)


def broker_order(coid, status="ACCEPTED"):
    return SimpleNamespace(
        client_order_id=coid,
        broker_order_id=f"B{coid}",
        instrument=0,
        symbol="RELIANCE",
        status=status,
        qty=1,
        filled_qty=0,
    )


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def reconciler(tmp_path, engine, broker, clock, on_start=True):
    return Reconciler(
        engine, broker, SYMBOLS, str(tmp_path), interval_s=60.0, on_start=on_start, clock=clock
    )


def test_reconciler_when_a_difference_is_seen_once_then_it_holds_without_halting(tmp_path):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    broker.pos = {0: 1}          # a fill our poll has not read yet
    r = reconciler(tmp_path, engine, broker, clock)
    r.poll()
    assert r.holding and engine.states == [] and r.allows_active()
    engine.qty = {0: 1}          # the poll caught up before the confirming check
    clock.t += 3.0
    r.poll()
    assert not r.holding and engine.states == [] and r.allows_active()


def test_reconciler_when_a_difference_is_confirmed_then_halted_named_and_active_refused(tmp_path):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    broker.rows = [broker_order("EPLANTED")]
    r = reconciler(tmp_path, engine, broker, clock)
    r.poll()
    clock.t += 3.0
    r.poll()
    assert engine.states[-1][0] == "HALTED" and "EPLANTED" in engine.states[-1][1]
    assert not r.allows_active() and not r.holding
    saved = orjson.loads((tmp_path / "orders.reconcile.json").read_bytes())
    assert saved["ok"] is False and "EPLANTED" in saved["outstanding"][0]


def test_reconciler_when_operator_adopts_then_active_and_later_checks_use_the_baseline(tmp_path):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    broker.rows, broker.pos = [broker_order("EPLANTED")], {1: 5}
    r = reconciler(tmp_path, engine, broker, clock)
    r.check()
    clock.t += CONFIRM_S             # seen again, unchanged, confirm_s later
    r.check()
    assert engine.trading_state == "HALTED"
    r.adopt()
    assert engine.trading_state == "ACTIVE" and r.allows_active()
    assert r.check() == [] and r.check() == []
    # A restarted process loads the adopted baseline from the file.
    assert orjson.loads((tmp_path / "orders.reconcile.json").read_bytes())["adopted_positions"] == {
        "INFY": 5
    }
    again = reconciler(tmp_path, engine, broker, clock)
    assert again.baseline.position_offsets == {1: 5} and again.check() == []


def test_reconciler_when_the_halt_was_not_ours_then_adopt_does_not_resume(tmp_path):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    engine.trading_state = "HALTED"          # e.g. the daily loss limit
    broker.pos = {0: 2}
    r = reconciler(tmp_path, engine, broker, clock)
    r.check()
    clock.t += CONFIRM_S             # seen again, unchanged, confirm_s later
    r.check()
    r.adopt()
    assert engine.trading_state == "HALTED" and engine.states == []


def test_reconciler_when_the_broker_cannot_answer_then_no_verdict_and_a_retry_soon(tmp_path):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    broker.fail = BrokerRetryable("throttled")
    r = reconciler(tmp_path, engine, broker, clock)
    r.poll()
    assert r.error and engine.states == [] and r.due == clock.t + RETRY_S
    # the start check has no verdict: nothing is traded yet
    assert r.holding
    broker.fail = None
    clock.t += RETRY_S
    r.poll()
    assert not r.holding and not r.error


def test_reconciler_when_the_broker_refused_our_session_then_no_call_until_the_engine_says_it_works(
    tmp_path,
):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    broker.fail = BrokerFatal("TokenException")
    r = reconciler(tmp_path, engine, broker, clock)
    r.poll()
    assert r.due == clock.t + FATAL_RETRY_S  # the start check: not the quick retry, nor an hour
    engine.broker_down = "TokenException"    # the engine's gate: no call but its own probe
    calls = []
    broker.orders = lambda: calls.append(1) or []
    clock.t += 120.0
    r.poll()
    assert calls == []


def test_reconciler_when_adopt_meets_a_throttled_broker_then_poll_adopts_once_it_answers(tmp_path):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    broker.rows = [broker_order("EPLANTED")]
    r = reconciler(tmp_path, engine, broker, clock)
    r.check()
    clock.t += CONFIRM_S             # seen again, unchanged, confirm_s later
    r.check()
    broker.fail = BrokerRetryable("throttled")
    r.adopt()
    assert engine.trading_state == "HALTED" and r.adopt_wanted
    broker.fail = None
    clock.t += RETRY_S
    r.poll()
    assert (
        engine.trading_state == "ACTIVE"
        and not r.adopt_wanted
        and "EPLANTED" in r.baseline.adopted_ids
    )


def test_reconciler_cancel_unknown_cancels_only_our_working_orders_the_journal_lacks(tmp_path):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    engine.book.orders = {
        "EKNOWN": SimpleNamespace(
            client_order_id="EKNOWN",
            instrument=0,
            symbol="RELIANCE",
            status="ACCEPTED",
            qty=1,
            filled_qty=0,
        )
    }
    broker.rows = [
        broker_order("EKNOWN"),
        broker_order("EPLANTED"),
        broker_order("EDONE", "FILLED"),
    ]
    r = reconciler(tmp_path, engine, broker, clock, on_start=False)
    assert r.cancel_unknown() == 1 and broker.canceled == ["BEPLANTED"]


def test_reconciler_permits_active_only_once_a_fresh_look_finds_the_difference_gone(tmp_path):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    broker.rows = [broker_order("EPLANTED")]
    r = reconciler(tmp_path, engine, broker, clock)
    r.check()
    clock.t += CONFIRM_S             # seen again, unchanged, confirm_s later
    r.check()
    assert r.permits("HALTED") and not r.permits("ACTIVE")
    broker.rows = []                          # the operator canceled it at the broker by hand
    assert r.permits("ACTIVE")


def test_reconciler_cancel_unknown_when_the_broker_cannot_list_orders_then_nothing_and_said(
    tmp_path,
):
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    broker.fail = BrokerRetryable("HTTP 503")
    r = reconciler(tmp_path, engine, broker, clock, on_start=False)
    assert r.cancel_unknown() == 0 and "503" in r.error and broker.canceled == []


def test_reconciler_when_the_loss_limit_holds_halted_then_a_difference_journals_its_own_halt(
    tmp_path,
):
    """A loss-limit halt ends with its IST day; a broker difference must not end with it."""
    engine, broker, clock = FakeEngine(), FakeBroker(), Clock()
    engine.set_trading_state("HALTED", "daily loss limit breached: day P&L -5000.00 INR")
    engine.halt_ends_with_day = True
    broker.rows = [broker_order("EPLANTED")]
    r = reconciler(tmp_path, engine, broker, clock)
    r.check()
    clock.t += CONFIRM_S             # seen again, unchanged, confirm_s later
    r.check()
    assert engine.states and engine.states[-1][0] == "HALTED" and "EPLANTED" in engine.states[-1][1]
    r.adopt()
    assert engine.trading_state == "HALTED"          # not ours to lift: the day's loss limit holds
