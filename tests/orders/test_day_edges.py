"""The edges of a trading day in the engine: the square-off closes brackets for good (no legs come
back next morning), and the daily loss limit is a limit per IST day, not per run."""

from common.clock import NS_PER_S, SECONDS_PER_DAY
from common.messages import (BracketsClosed, OrderDenied, OrderFilled, OrderSubmitting,
                             TradingStateChanged)
from orders.limits import RiskLimits
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, ist_ns, of_type

DAY_NS = SECONDS_PER_DAY * NS_PER_S


def next_day(hh: int, mm: int, ss: float = 0.0, days: int = 1) -> int:
    return ist_ns(hh, mm, ss) + days * DAY_NS


def session_limits(**kw) -> RiskLimits:
    return limits_of(session_start="09:15", entry_cutoff="15:00", square_off="15:10",
                     session_end="15:30", **kw)


def test_square_off_closes_the_bracket_so_no_leg_is_placed_the_next_morning(make_desk):
    desk, tape = (
        make_desk(limits=session_limits(leg_prices="signal")),
        Tape(start_ns=ist_ns(14, 59)),
    )
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    first = tape.seq + 1
    tape.add(0, 100.2)                                   # the entry fills, the legs go out
    # square-off: legs canceled, position closed
    tape.add(0, 100.1, at_ns=ist_ns(15, 10))
    tape.add(0, 100.0, at_ns=ist_ns(15, 10, 1))
    tape.add(0, 100.0, at_ns=ist_ns(15, 10, 2))
    desk.run(tape, start_seq=first)
    before = len(desk.events)
    assert desk.engine.positions()[0][0] == 0
    assert of_type(desk.events, BracketsClosed)
    first = tape.seq + 1
    tape.add(0, 99.0, at_ns=next_day(9, 7))              # pre-open, next day
    tape.add(0, 97.0, at_ns=next_day(9, 16))             # straight through yesterday's stop
    tape.add(0, 96.5, at_ns=next_day(9, 16, 1))
    desk.run(tape, start_seq=first)
    assert of_type(desk.events[before:], OrderSubmitting) == []
    assert desk.engine.positions()[0][0] == 0            # no naked position nobody asked for


def test_square_off_bracket_close_survives_a_restart(make_desk, tmp_path):
    desk, tape = (
        make_desk(limits=session_limits(leg_prices="signal")),
        Tape(start_ns=ist_ns(14, 59)),
    )
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    first = tape.seq + 1
    tape.add(0, 100.2)
    tape.add(0, 100.1, at_ns=ist_ns(15, 10))
    tape.add(0, 100.0, at_ns=ist_ns(15, 10, 1))
    desk.run(tape, start_seq=first)
    snapshot = desk.engine.market_snapshot()
    desk.restart(list(desk.events), market=snapshot)
    assert desk.engine.desk.active == {}
    first = tape.seq + 1
    tape.add(0, 97.0, at_ns=next_day(9, 16))
    desk.run(tape, start_seq=first)
    assert desk.engine.positions()[0][0] == 0


def lose(desk, tape, at_hh: int, at_mm: int, days: int = 0) -> None:
    """One round trip that loses 1.00 a share on 50 shares (plus charges): ~ -50 INR."""
    at = ist_ns(at_hh, at_mm) + days * DAY_NS
    tape.add(0, 100.0, at_ns=at)
    seq = tape.seq
    tape.add(0, 100.0, at_ns=at + NS_PER_S)              # the MARKET entry fills here
    tape.add(0, 99.0, at_ns=at + 2 * NS_PER_S)           # through the stop at 99.5 ...
    tape.add(0, 99.0, at_ns=at + 3 * NS_PER_S)           # ... its SL-M fills at 99.0
    desk.run(tape, [intent(seq, qty=50, stop_loss=99.5, target=101.0)], start_seq=seq)


def test_daily_loss_limit_counts_only_the_days_own_losses(make_desk):
    limits = session_limits(daily_loss_limit_inr=120.0, leg_prices="signal")
    desk, tape = make_desk(limits=limits), Tape()
    lose(desk, tape, 10, 0)
    lose(desk, tape, 11, 0)                 # day 1: ~ -100, under the limit
    day1 = desk.engine.exposure.realised_net
    assert -120 < day1 < -100
    lose(desk, tape, 10, 0, days=1)         # day 2: ~ -50; the run's total is ~ -150
    assert -60 < desk.engine.exposure.realised_net < -50
    assert of_type(desk.events, TradingStateChanged) == []
    assert desk.engine.trading_state == "ACTIVE"


def test_daily_loss_limit_halt_ends_with_its_day_and_the_next_day_trades(make_desk):
    limits = session_limits(daily_loss_limit_inr=80.0, leg_prices="signal")
    desk, tape = make_desk(limits=limits), Tape()
    lose(desk, tape, 10, 0)
    lose(desk, tape, 11, 0)                 # day 1: ~ -100 breaches 80: HALTED, flatten
    assert desk.engine.trading_state == "HALTED"
    tape.add(0, 100.0, at_ns=ist_ns(11, 30))
    desk.run(tape, [intent(tape.seq, qty=5)], start_seq=tape.seq)
    assert of_type(desk.events, OrderDenied)[-1].reason.startswith("HALTED")
    n_fills = len(of_type(desk.events, OrderFilled))
    lose(desk, tape, 10, 0, days=1)         # day 2: trading again, its own loss is ~ -50
    states = [(m.state, m.reason) for m in of_type(desk.events, TradingStateChanged)]
    assert states[-1][0] == "ACTIVE" and "new trading day" in states[-1][1]
    assert len(of_type(desk.events, OrderFilled)) == n_fills + 2
    assert -60 < desk.engine.exposure.realised_net < -50


def test_a_halt_that_is_not_the_loss_limit_does_not_end_at_midnight(make_desk):
    desk, tape = make_desk(limits=session_limits()), Tape()
    tape.add(0, 100.0)
    desk.run(tape)
    desk.engine.set_trading_state("HALTED", "operator")
    tape.add(0, 100.0, at_ns=next_day(10, 0))
    desk.run(tape, [intent(tape.seq, qty=5)], start_seq=tape.seq)
    assert desk.engine.trading_state == "HALTED"
    assert of_type(desk.events, OrderDenied)[-1].reason.startswith("HALTED")


def test_day_pnl_after_a_restart_on_the_next_day_is_that_days(make_desk):
    limits = session_limits(daily_loss_limit_inr=1e6, leg_prices="signal")
    desk, tape = make_desk(limits=limits), Tape()
    lose(desk, tape, 10, 0)
    lose(desk, tape, 10, 0, days=1)
    day2 = desk.engine.exposure.realised_net
    desk.restart(list(desk.events), market=desk.engine.market_snapshot())
    assert desk.engine.exposure.realised_net == day2
