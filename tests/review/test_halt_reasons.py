"""A halt by the daily loss limit ends with its IST day; a halt for any other reason must not.

What happens when a second reason to halt arrives while the loss limit already holds trading
HALTED: the engine records nothing (the state is already HALTED) and the next morning lifts the
halt as if only the loss limit had been there.
"""

from common.errors import BrokerFatal
from common.messages import TradingStateChanged
from tests.orders.stubs import Tape, intent, of_type
from tests.orders.test_day_edges import lose, next_day, session_limits


class FatalPolls:
    """The paper broker, whose polls raise BrokerFatal (the session or token died) while `dead`."""

    def __init__(self, inner):
        self.inner, self.dead = inner, False
        self.capabilities = inner.capabilities

    def poll_events(self):
        if self.dead:
            raise BrokerFatal("TokenException: access token expired")
        return self.inner.poll_events()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def loss_halted(make_desk, **kw):
    desk, tape = make_desk(limits=session_limits(daily_loss_limit_inr=80.0, leg_prices="signal"),
                           **kw), Tape()
    lose(desk, tape, 10, 0)
    lose(desk, tape, 11, 0)                      # ~ -100 breaches 80: HALTED by the loss limit
    assert desk.engine.trading_state == "HALTED"
    assert desk.engine.loss_halt_day_ns
    return desk, tape


def test_operator_halt_during_a_loss_limit_halt_when_the_next_day_starts_then_trading_stays_halted(
    make_desk,
):
    desk, tape = loss_halted(make_desk)
    desk.engine.set_trading_state("HALTED", "operator: stop for today and tomorrow")
    tape.add(0, 100.0, at_ns=next_day(10, 0))
    desk.run(tape, [intent(tape.seq, qty=5)], start_seq=tape.seq)
    assert desk.engine.trading_state == "HALTED"


def test_broker_fatal_during_a_loss_limit_halt_when_the_next_day_starts_then_trading_stays_halted(
    make_desk,
):
    holder = {}

    def wrap(paper):
        holder["b"] = FatalPolls(paper)
        return holder["b"]

    desk, tape = loss_halted(make_desk, wrap=wrap)
    holder["b"].dead = True
    desk.engine.poll_broker()                     # the stage's periodic poll is refused
    assert desk.engine.broker_down
    holder["b"].dead = False
    tape.add(0, 100.0, at_ns=next_day(10, 0))
    tape.add(0, 100.0, at_ns=next_day(10, 0, 30))
    desk.run(tape, [intent(tape.seq, qty=5)], start_seq=tape.seq - 1)
    states = [(m.state, m.reason) for m in of_type(desk.events, TradingStateChanged)]
    # Resuming after a refused session is the operator's call (orders/gateway.py _session_back).
    assert desk.engine.trading_state == "HALTED", states


def test_loss_limit_halt_when_the_next_day_starts_then_it_resumes_and_a_restart_agrees(make_desk):
    desk, tape = loss_halted(make_desk)
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    tape.add(0, 100.0, at_ns=next_day(10, 0))
    desk.run(tape, [intent(tape.seq, qty=5)], start_seq=tape.seq)
    assert desk.engine.trading_state == "ACTIVE"
