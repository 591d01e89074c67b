"""orders/stage.py on a `SetTradingState` from the supervisor: applied once and in stamp order,
acknowledged in its trading-state record only once the effect is journaled (issue 13).

The stage's command part runs on a real engine and paper broker (tests/orders/stubs.Desk); the
journal is the desk's event list, "made durable" by the stage's commit. The supervisor's side
(re-sending its halt until acknowledged) is tests/supervision/test_commands.py.
"""

import types

import pytest

from common.log import get_logger
from common.messages import SetTradingState, TradingStateChanged
from common.tradingstate import read_state
from orders.stage import OrdersStage
from tests.orders.stubs import of_type

HALT = "supervisor halted trading: gave up on feed: restart limit exceeded"


class Runtime:
    def __init__(self):
        self.counts = {}

    def set_count(self, name, value):
        self.counts[name] = value


class Journal:
    """The desk's events up to the last commit are the durable journal; a crash loses the rest."""

    def __init__(self, desk):
        self.desk, self.durable = desk, 0

    def commit(self):
        self.durable = len(self.desk.events)

    def crash(self):
        raise OSError("killed before the journal reached the kernel")

    def events(self):
        return self.desk.events[: self.durable]


def stage_over(desk, run_dir, journal) -> OrdersStage:
    """An OrdersStage whose command handling runs on `desk`'s engine: the engine's events go to
    the journal and, as the stage's sink does, a state change to the record."""
    stage = OrdersStage.__new__(OrdersStage)
    stage.ctx = types.SimpleNamespace(run_dir=str(run_dir))
    stage.rt, stage.engine, stage.log = Runtime(), desk.engine, get_logger("orders")
    stage.reconciler = types.SimpleNamespace(permits=lambda state: True)
    stage.commit = journal.commit
    stage.hold = types.SimpleNamespace(error="")   # recovered: not holding (finish_recovery)

    def emit(msg):
        desk.events.append(msg)
        if isinstance(msg, TradingStateChanged):
            stage._show_trading_state(msg.state, msg.reason, msg.ts_event_ns)

    desk.engine.sink.emit = emit
    stage._show_trading_state(desk.engine.trading_state, desk.engine.state_reason)
    return stage


def held_stage(make_desk, run_dir, **reconciler):
    """(desk, stage): a restarted orders whose recovery is held (the broker answered 500 once)."""
    from tests.orders.test_stage_recovery import HTTP_500, restarted_desk
    from tests.orders.test_stage_recovery import stage_over as recovering_stage

    desk = restarted_desk(make_desk, n_failures=1, error=HTTP_500)
    journal = Journal(desk)
    stage = recovering_stage(desk, run_dir)
    stage.reconciler = types.SimpleNamespace(permits=lambda state: True, **reconciler)
    stage.commit = journal.commit
    desk.engine.sink.emit = desk.events.append
    assert stage.finish_recovery() is False                       # held
    return desk, stage


def acknowledged_record(run_dir) -> tuple:
    """(state, reason, acknowledged stamp) of the record orders wrote for the supervisor."""
    record = read_state(str(run_dir))
    return record["state"], record["reason"], record["command_ns"]


def command(stamp, state="HALTED", reason=HALT):
    return SetTradingState(ts_event_ns=stamp, state=state, reason=reason)


def states(desk):
    return [(m.state, m.reason) for m in of_type(desk.events, TradingStateChanged)]


def test_orders_when_a_halt_command_is_delivered_twice_then_it_is_applied_once(make_desk,
                                                                                tmp_path):
    desk = make_desk()
    journal = Journal(desk)
    stage = stage_over(desk, tmp_path, journal)
    stage.on_message(command(100))
    stage.on_message(command(100))          # the supervisor sent it again before it saw the ack
    assert states(desk) == [("HALTED", HALT)]
    assert acknowledged_record(tmp_path) == ("HALTED", HALT, 100)


def test_orders_when_a_resume_is_delivered_again_after_orders_halted_itself_then_the_halt_holds(
        make_desk, tmp_path):
    desk = make_desk()
    stage = stage_over(desk, tmp_path, Journal(desk))
    resume = command(100, "ACTIVE", "operator: ctl resume")
    stage.on_message(resume)
    desk.engine.halt("broker fatal error: TokenException")     # orders' own halt, after it
    stage.on_message(resume)                                    # the same command, doubled
    assert desk.engine.trading_state == "HALTED"
    assert states(desk)[-1] == ("HALTED", "broker fatal error: TokenException")


def test_orders_when_an_older_resume_overtakes_the_supervisors_halt_then_the_halt_holds(make_desk,
                                                                                         tmp_path):
    # `ctl resume` (stamp 90, the desk's socket) arrives after the supervisor's halt (stamp 100,
    # its loop's socket): a resume the operator asked before the halt must not lift it.
    desk = make_desk()
    stage = stage_over(desk, tmp_path, Journal(desk))
    stage.on_message(command(100))
    stage.on_message(command(90, "ACTIVE", "operator: ctl resume"))
    assert desk.engine.trading_state == "HALTED" and states(desk) == [("HALTED", HALT)]
    assert read_state(str(tmp_path))["command_ns"] == 100
    stage.on_message(command(110, "ACTIVE", "operator: ctl resume"))    # a later one applies
    assert desk.engine.trading_state == "ACTIVE"
    assert read_state(str(tmp_path))["command_ns"] == 110


def test_orders_when_killed_before_the_halt_is_journaled_then_it_is_not_acknowledged_and_a_resend_halts_the_restarted_orders(  # noqa: E501
        make_desk, tmp_path):
    desk = make_desk()
    journal = Journal(desk)
    stage = stage_over(desk, tmp_path, journal)
    stage.commit = journal.crash
    with pytest.raises(OSError):
        stage.on_message(command(100))
    # the record may show the state the engine took, but never acknowledges a halt not journaled
    assert read_state(str(tmp_path)).get("command_ns", 0) == 0
    # orders restarts from what was durable: the halt is not in it
    desk.restart(journal.events())
    assert desk.engine.trading_state == "ACTIVE"
    restarted = stage_over(desk, tmp_path, journal)
    assert read_state(str(tmp_path))["command_ns"] == 0      # a new orders acknowledges nothing
    restarted.on_message(command(100))                        # the supervisor sends it again
    assert desk.engine.trading_state == "HALTED" and desk.engine.state_reason == HALT
    assert read_state(str(tmp_path))["command_ns"] == 100


def test_orders_when_restarted_after_the_halt_was_journaled_then_the_resend_changes_nothing(
        make_desk, tmp_path):
    desk = make_desk()
    journal = Journal(desk)
    stage_over(desk, tmp_path, journal).on_message(command(100))
    desk.restart(journal.events())                   # SIGKILL after the journal, before any ack
    assert desk.engine.trading_state == "HALTED"
    restarted = stage_over(desk, tmp_path, journal)
    restarted.on_message(command(100))
    assert states(desk) == [("HALTED", HALT)]        # one halt in the journal, not two
    assert acknowledged_record(tmp_path) == ("HALTED", HALT, 100)


def test_orders_when_an_unstamped_command_arrives_then_it_is_applied_and_not_acknowledged(
        make_desk, tmp_path):
    desk = make_desk()
    stage = stage_over(desk, tmp_path, Journal(desk))
    stage.on_message(command(0, reason="operator: ctl halt"))
    assert desk.engine.trading_state == "HALTED"
    assert read_state(str(tmp_path))["command_ns"] == 0


def test_orders_when_halted_by_a_command_during_a_recovery_hold_then_the_record_shows_it_after(
        make_desk, tmp_path):
    """A recovery held by a broker that did not answer (orders/stage.py finish_recovery) shows
    HALTED with why; an operator's halt during the hold must still show once the broker answers,
    not the state from before the hold."""
    desk, stage = held_stage(make_desk, tmp_path)
    stage.on_message(command(100, reason="operator: ctl halt"))
    assert stage.finish_recovery() is True
    record = read_state(str(tmp_path))
    assert (record["state"], record["reason"]) == ("HALTED", "operator: ctl halt")


def test_orders_when_the_supervisors_halt_arrives_during_a_recovery_hold_then_nothing_is_sent_until_recovered(  # noqa: E501
        make_desk, tmp_path):
    """A restarted orders whose broker did not answer recovery holds: it does not know yet what
    happened to its orders, so "no tick is applied and nothing is sent" (orders/stage.py
    finish_recovery). The supervisor re-sends its standing halt to every restarted orders, so the
    halt lands in exactly that hold: it is journaled and acknowledged there, but acted on (the
    working entry canceled) only once recovery is done."""
    from common.messages import OrderCanceled
    desk, stage = held_stage(make_desk, tmp_path)
    calls_before = [(o.status, o.qty) for o in desk.paper.orders()]
    stage.on_message(command(100))
    assert [(o.status, o.qty) for o in desk.paper.orders()] == calls_before   # nothing sent
    assert not of_type(desk.events, OrderCanceled)
    assert desk.engine.trading_state == "HALTED" and desk.engine.state_reason == HALT
    assert read_state(str(tmp_path))["command_ns"] == 100
    assert stage.finish_recovery() is True
    desk.engine.next_tick_is(desk.engine.catchup_seq + 1)   # as the stage's next step says
    desk.engine.poll_broker()                   # the first settle after recovery acts on it
    assert [o.status for o in desk.paper.orders()] == ["CANCELED"]


def test_orders_when_an_operator_flatten_arrives_during_a_recovery_hold_then_nothing_is_sent_until_recovered(  # noqa: E501
        make_desk, tmp_path):
    from common.messages import FlattenAll
    unknown_canceled: list = []
    desk, stage = held_stage(make_desk, tmp_path,
                             cancel_unknown=lambda: unknown_canceled.append(1))
    before = [(o.status, o.qty) for o in desk.paper.orders()]
    stage.on_message(FlattenAll(ts_event_ns=0, reason="operator: ctl flatten"))
    assert [(o.status, o.qty) for o in desk.paper.orders()] == before    # nothing sent
    assert desk.engine.flattening and not unknown_canceled         # journaled, not acted on
    assert stage.finish_recovery() is True
    assert unknown_canceled == [1]              # our unknown orders: once the broker answers
    desk.engine.next_tick_is(desk.engine.catchup_seq + 1)   # as the stage's next step says
    desk.engine.poll_broker()                   # the first settle after recovery flattens
    assert [o.status for o in desk.paper.orders()] == ["CANCELED"]
