"""orders' stop policy (orders/onstop.py, issue 11.3) on a fake engine: what it asks of the engine,
when it waits for a live broker, and what it reports. End to end against the local Kite venue:
tests/integration/test_stop_policy.py."""

from types import SimpleNamespace

import numpy as np

from orders.onstop import FLATTEN_REASON, LEAVE_REASON, apply_stop_policy


class FakeBook:
    def __init__(self, orders):
        self.orders = orders

    def working(self):
        return [o for o in self.orders if o.status == "ACCEPTED"]

    def working_entries(self):
        return [o for o in self.working() if o.role == "ENTRY"]


def _order(role, coid, status="ACCEPTED"):
    return SimpleNamespace(
        client_order_id=coid,
        broker_order_id="B" + coid,
        role=role,
        symbol="SBIN",
        side=1,
        qty=1,
        filled_qty=0,
        order_type="LIMIT",
        status=status,
    )


class FakeEngine:
    def __init__(self, orders=(), positions=None):
        self.book = FakeBook(list(orders))
        self._positions = positions or {}
        self.calls = []
        self.clock_ns = 0
        self.halt_ends_with_day = False
        self.trading_state = "ACTIVE"

    def positions(self):
        return {k: (q, 100.0, 0.0) for k, q in self._positions.items()}

    def flatten_all(self, reason):
        self.calls.append(("flatten_all", reason))

    def set_trading_state(self, state, reason):
        self.calls.append(("set_trading_state", state, reason))
        self.trading_state = state
        for o in self.book.working_entries():
            o.status = "CANCELED"

    def poll_broker(self):
        self.calls.append(("poll_broker",))

    def advance_clock(self, ts_ns):
        self.clock_ns = max(self.clock_ns, ts_ns)


def _stage(engine, policy, broker="paper"):
    cfg = SimpleNamespace(
        run=SimpleNamespace(on_stop=policy, on_stop_timeout_s=5.0),
        broker=SimpleNamespace(name=broker),
    )
    rows = np.array([(b"SBIN",)], dtype=[("symbol", "S8")])
    capabilities = SimpleNamespace(
        reports_fills_async=broker != "paper", book_is_ours=broker == "paper"
    )
    return SimpleNamespace(
        ctx=SimpleNamespace(config=cfg),
        engine=engine,
        broker=capabilities,
        commit=lambda: None,
        rt=SimpleNamespace(progress=lambda: None),
        instruments=SimpleNamespace(rows=rows),
    )


def test_stop_when_nothing_is_working_or_open_then_the_engine_is_not_asked_anything():
    engine = FakeEngine()
    report = apply_stop_policy(_stage(engine, "flatten"))
    # a flat replay end journals nothing new
    assert engine.calls == [] and report["acted"] == ""
    assert (
        report["left_at_broker"] == {"working_orders": {}, "positions": {}} and "note" not in report
    )


def test_stop_when_flatten_and_a_paper_position_is_open_then_it_flattens_and_reports_what_paper_cannot_fill():  # noqa: E501 - the name is the test's sentence
    engine = FakeEngine([_order("STOP", "S1")], positions={0: 2})
    report = apply_stop_policy(_stage(engine, "flatten"))
    # HALTED first, so a restart on this journal is not left flattening; paper: no broker wait, no
    # poll.
    assert engine.calls == [
        ("set_trading_state", "HALTED", FLATTEN_REASON),
        ("flatten_all", FLATTEN_REASON),
    ]
    assert (
        report["acted"] == "flattened"
        and report["paper"]
        and report["left_at_broker"]["positions"] == {"SBIN": 2}
    )
    assert report["note"].startswith("paper: the feed has stopped")


def test_stop_when_leave_then_only_entries_are_cancelled_and_the_legs_are_reported_left():
    engine = FakeEngine(
        [_order("ENTRY", "E1"), _order("STOP", "S1"), _order("TARGET", "T1")], positions={0: 1}
    )
    report = apply_stop_policy(_stage(engine, "leave"))
    assert engine.calls == [("set_trading_state", "HALTED", LEAVE_REASON)]
    left = report["left_at_broker"]["working_orders"]["SBIN"]
    assert [o["role"] for o in left] == ["STOP", "TARGET"]
    assert "next start" in report["note"]


def test_stop_when_a_live_broker_never_confirms_then_it_polls_until_the_timeout_and_says_so():
    engine = FakeEngine([_order("TARGET", "T1")], positions={0: 1})
    stage = _stage(engine, "flatten", broker="kite")
    stage.broker = SimpleNamespace(
        orders=lambda: [],
        positions=lambda: [SimpleNamespace(symbol="SBIN", qty=1)],
        reports_fills_async=True,
        book_is_ours=False,
    )
    now = [0.0]

    def sleep(s):
        now[0] += s

    report = apply_stop_policy(stage, sleep=sleep, clock=lambda: now[0])
    polls = [c for c in engine.calls if c == ("poll_broker",)]
    # 5 s / 0.25 s
    assert len(polls) == 20 and report["timed_out"] and report["source"] == "broker"
    assert report["left_at_broker"] == {"working_orders": {}, "positions": {"SBIN": 1}}
    # the engine's clock moved on with the wall clock while waiting
    assert engine.clock_ns > 0


def test_stop_when_flattened_then_a_restart_on_that_journal_begins_halted_and_resume_ends_the_flatten(  # noqa: E501 - the name is the test's sentence
    make_desk,
):
    """On the real engine: a later start on the same journal (the same run dir) is HALTED with the
    stop's reason, not left flattening (cancelling every new bracket) with no way out."""
    from tests.orders.stubs import Tape, intent

    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, stop_loss=98.0, target=103.0)])
    desk.run(tape, start_seq=tape.prices(0, [100.2, 100.1]) - 1)
    assert desk.engine.book.working()                       # the bracket's legs are working
    stage = SimpleNamespace(
        ctx=SimpleNamespace(
            config=SimpleNamespace(
                run=SimpleNamespace(on_stop="flatten", on_stop_timeout_s=1.0),
                broker=SimpleNamespace(name="paper"),
            )
        ),
        engine=desk.engine,
        broker=desk.broker,
        commit=lambda: None,
        rt=SimpleNamespace(progress=lambda: None),
        instruments=SimpleNamespace(rows=desk.rows),
    )
    report = apply_stop_policy(stage)
    assert report["acted"] == "flattened" and not desk.engine.book.working_entries()
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    assert (desk.engine.trading_state, desk.engine.flattening) == ("HALTED", True)
    desk.engine.set_trading_state("ACTIVE", "operator: ctl resume")
    # refused: the flatten's close is working
    assert desk.engine.trading_state == "HALTED"
    desk.run(tape, start_seq=tape.prices(0, [100.0]))      # the next session's tick fills it
    desk.engine.set_trading_state("ACTIVE", "operator: ctl resume")
    assert desk.engine.flattening is False and desk.engine.trading_state == "ACTIVE"
