"""A restarted engine that found no market snapshot (a fresh supervisor: the snapshot lives in the
run's shared memory) knows its open positions from the journal but none of their prices until each
instrument's first tick.

Seen (found while reading the start reconciliation): a long position was marked at 0 until its own
first tick, so the first tick of any other instrument read it as a total loss — the daily loss limit
fired, trading HALTED and every position was flattened at market, on a run that had lost nothing.
"""

from common.messages import FlattenAll
from tests.orders.stubs import Tape, intent, limits_of, of_type


def _restarted_long(make_desk, *, market: bool):
    desk = make_desk(limits=limits_of(enforce_session=False, leg_prices="signal",
                                      daily_loss_limit_inr=500.0))
    tape = Tape()
    tape.add(0, 1000.0)
    desk.run(tape, [intent(1, qty=10, stop_loss=900.0, target=1100.0)])
    desk.run(tape, start_seq=tape.add(0, 1000.1))                # long 10 at 1,000.1
    assert desk.engine.positions()[0][0] == 10
    snapshot = desk.engine.market_snapshot() if market else None
    desk.restart(list(desk.events), market=snapshot)
    return desk, tape


def test_the_first_tick_of_another_instrument_does_not_fire_the_loss_limit(make_desk):
    desk, tape = _restarted_long(make_desk, market=False)
    assert desk.engine.exposure.last_price[0] == 0.0            # no price known for it yet
    desk.run(tape, start_seq=tape.add(1, 50.0))                 # a tick of the other instrument
    assert desk.engine.trading_state == "ACTIVE", desk.engine.state_reason
    assert not of_type(desk.events, FlattenAll)
    assert abs(desk.engine.exposure.day_pnl() - desk.engine.exposure.realised_net) < 1e-9
    assert desk.engine.exposure.gross_exposure() == 10 * 1000.1     # at its average price


def test_once_priced_the_position_is_marked_and_a_real_loss_still_fires(make_desk):
    desk, tape = _restarted_long(make_desk, market=False)
    desk.run(tape, start_seq=tape.add(1, 50.0))
    desk.run(tape, start_seq=tape.prices(0, [960.0, 940.0]))    # -600 on 10: beyond the 500 limit
    assert desk.engine.trading_state == "HALTED"
    assert "daily loss limit" in desk.engine.state_reason
    assert of_type(desk.events, FlattenAll)
