"""The Broker contract, as tests every broker must pass: paper now, local Kite/Upstox servers later.

Not collected by itself (the name has no test_ prefix). A broker's test module imports these
functions and provides a `broker_factory` fixture: a callable `broker_factory(**features) ->
harness` returning a fresh account, where the harness has

    broker              the orders.brokers.base.Broker under test
    instrument, symbol, exchange, tick_size, freeze_qty (0 = none)   the one instrument traded
    seq                 seq of the last market tick sent (what OTrade passes as after_seq)
    tick(price)         send one market trade at `price` and let the broker match against it
    reopen() -> Broker  the orders process restarted: a new Broker object on the same account

and the features it was asked for, or 0 when it cannot provide them (the test then skips):
    partial_fill_qty    most units an order fills per tick
    rate_limit_per_sec  the broker's own placement limit

Nothing here knows about paper-broker internals; statuses are OTrade's (orders/statemachine.py).
"""

import contextlib
import itertools

import pytest

from common.errors import BrokerRejected, BrokerRetryable
from orders import statemachine as sm
from orders.brokers.base import BrokerTrade, OrderRequest

_ids = itertools.count(1)


def _coid() -> str:
    return f"E{next(_ids):019d}"


def _req(h, *, side=1, qty=10, order_type="LIMIT", price=0.0, trigger_price=0.0, coid=None):
    return OrderRequest(coid or _coid(), h.instrument, h.symbol, h.exchange, side, qty, order_type,
                        price, trigger_price, after_seq=h.seq)


def _refused(h, req) -> bool:
    """The broker refused: it raised BrokerRejected, or recorded the order as REJECTED."""
    try:
        ack = h.broker.place(req)
    except BrokerRejected:
        found = h.broker.find_by_client_id(req.client_order_id)
        return found is None or found.status == sm.REJECTED
    return ack.status == sm.REJECTED and h.broker.find_by_client_id(req.client_order_id).status == \
        sm.REJECTED


def _trades(h, coid):
    return [t for t in h.broker.trades() if t.client_order_id == coid]


def test_contract_place_limit_away_from_market_rests_as_accepted(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    req = _req(h, price=95.0)
    ack = h.broker.place(req)
    assert ack.status == sm.ACCEPTED and ack.broker_order_id
    h.tick(99.0)
    found = h.broker.find_by_client_id(req.client_order_id)
    assert found.status == sm.ACCEPTED and found.filled_qty == 0
    assert found.broker_order_id == ack.broker_order_id
    assert req.client_order_id in {o.client_order_id for o in h.broker.orders()}


def test_contract_every_request_to_the_broker_waits_inside_the_stages_bound(broker_factory):
    """bound_calls: the stage is told of every wait for the broker and how long it may last (its
    timeouts), so that the stop ladder does not take a stop's slow cancel for a hang
    (supervision/stopladder.py). Paper sends no request."""
    h = broker_factory()
    h.tick(100.0)
    bounds: list[float] = []
    before = getattr(h.broker, "requests_sent", 0)

    @contextlib.contextmanager
    def blocked(bound_s):
        bounds.append(bound_s)
        yield

    h.broker.bound_calls(blocked)
    ack = h.broker.place(_req(h, price=95.0))
    h.broker.orders()
    h.broker.cancel(ack.broker_order_id)
    sent = getattr(h.broker, "requests_sent", 0) - before
    assert len(bounds) == sent and all(0 < b < 60 for b in bounds), (bounds, sent)
    assert (sent == 0) == h.broker.book_is_ours


def test_contract_market_order_fills_once_and_reports_the_trade(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    req = _req(h, order_type="MARKET")
    h.broker.place(req)
    h.tick(101.0)
    found = h.broker.find_by_client_id(req.client_order_id)
    assert found.status == sm.FILLED and found.filled_qty == 10
    trades = _trades(h, req.client_order_id)
    assert sum(t.qty for t in trades) == 10
    polled = [e for e in h.broker.poll_events() if isinstance(e, BrokerTrade)]
    assert {t.trade_id for t in polled} >= {t.trade_id for t in trades}
    assert not [e for e in h.broker.poll_events() if isinstance(e, BrokerTrade)]


def test_contract_modify_moves_a_limit_to_a_price_that_fills(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    req = _req(h, price=95.0)
    ack = h.broker.place(req)
    h.broker.modify(ack.broker_order_id, price=99.0)
    h.tick(99.0)
    found = h.broker.find_by_client_id(req.client_order_id)
    assert found.status == sm.FILLED and found.price == pytest.approx(99.0)
    assert found.avg_price == pytest.approx(99.0)


def test_contract_modify_quantity_sets_the_new_total(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    ack = h.broker.place(_req(h, price=95.0))
    h.broker.modify(ack.broker_order_id, qty=4)
    h.tick(94.0)
    assert sum(t.qty for t in h.broker.trades() if t.broker_order_id == ack.broker_order_id) == 4


def test_contract_cancel_stops_fills_and_a_second_cancel_is_refused(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    req = _req(h, price=95.0)
    ack = h.broker.place(req)
    cancel = h.broker.cancel(ack.broker_order_id)
    assert cancel.status in (sm.CANCELED, sm.CANCEL_PENDING)
    h.tick(90.0)
    assert h.broker.find_by_client_id(req.client_order_id).status == sm.CANCELED
    assert not _trades(h, req.client_order_id)
    with pytest.raises(BrokerRejected):
        h.broker.cancel(ack.broker_order_id)


def test_contract_invalid_quantity_is_refused(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    assert _refused(h, _req(h, qty=0, price=95.0))


def test_contract_price_not_a_tick_multiple_is_refused_and_never_fills(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    req = _req(h, price=95.0 + h.tick_size / 3)
    assert _refused(h, req)
    h.tick(90.0)
    assert not _trades(h, req.client_order_id)


def test_contract_quantity_above_freeze_is_refused(broker_factory):
    h = broker_factory()
    if not h.freeze_qty:
        pytest.skip("this account's instrument has no freeze quantity")
    h.tick(100.0)
    assert _refused(h, _req(h, qty=h.freeze_qty + 1, price=95.0))


def test_contract_partial_fills_add_up_to_the_order(broker_factory):
    h = broker_factory(partial_fill_qty=4)
    if not h.partial_fill_qty:
        pytest.skip("broker cannot be made to fill partially")
    h.tick(100.0)
    req = _req(h, order_type="MARKET", qty=10)
    h.broker.place(req)
    h.tick(100.0)
    found = h.broker.find_by_client_id(req.client_order_id)
    assert found.status == sm.PARTIALLY_FILLED and 0 < found.filled_qty < 10
    for _ in range(5):
        h.tick(100.0)
    found = h.broker.find_by_client_id(req.client_order_id)
    assert found.status == sm.FILLED and sum(t.qty for t in _trades(h, req.client_order_id)) == 10
    assert len({t.trade_id for t in _trades(h, req.client_order_id)}) >= 2


def _bracket(h):
    h.tick(100.0)
    entry = _req(h, order_type="MARKET")
    h.broker.place(entry)
    h.tick(100.0)
    stop = _req(h, side=-1, order_type="SL-M", trigger_price=98.0)
    target = _req(h, side=-1, price=103.0)
    return h.broker.place(stop), h.broker.place(target), stop, target


def test_contract_bracket_target_leg_fills_and_stop_leg_cancels(broker_factory):
    h = broker_factory()
    stop_ack, target_ack, stop, target = _bracket(h)
    h.tick(103.5)
    assert h.broker.find_by_client_id(target.client_order_id).status == sm.FILLED
    assert h.broker.find_by_client_id(stop.client_order_id).status == sm.ACCEPTED
    h.broker.cancel(stop_ack.broker_order_id)
    h.tick(97.0)
    assert not _trades(h, stop.client_order_id)


def test_contract_bracket_stop_leg_triggers_when_price_crosses(broker_factory):
    h = broker_factory()
    _, _, stop, target = _bracket(h)
    h.tick(99.0)
    assert not _trades(h, stop.client_order_id)
    h.tick(97.5)
    assert sum(t.qty for t in _trades(h, stop.client_order_id)) == 10
    assert h.broker.find_by_client_id(target.client_order_id).status == sm.ACCEPTED


def test_contract_a_stop_limit_triggered_but_not_filled_is_reported_triggered(broker_factory):
    # A gap: the market jumps past the trigger and the limit both. The stop is then a resting limit
    # order at the broker (Kite/Upstox "OPEN"/"open", no longer "TRIGGER PENDING"), which the
    # engine must know to take its target away (orders/brackets.py).
    h = broker_factory()
    h.tick(100.0)
    stop = _req(h, side=-1, order_type="SL", price=97.9, trigger_price=98.0)
    h.broker.place(stop)
    h.broker.poll_events()
    assert not h.broker.find_by_client_id(stop.client_order_id).triggered
    h.tick(97.5)
    news = [e for e in h.broker.poll_events()
            if getattr(e, "client_order_id", "") == stop.client_order_id]
    assert [e.triggered for e in news] == [True], news        # told once, as it happened
    found = h.broker.find_by_client_id(stop.client_order_id)
    assert found.triggered and found.status == sm.ACCEPTED and found.filled_qty == 0
    assert [o.triggered for o in h.broker.orders() if o.client_order_id == stop.client_order_id] \
        == [True]
    assert h.reopen().find_by_client_id(stop.client_order_id).triggered   # the broker keeps it


def test_contract_in_doubt_lookup_by_client_id_survives_a_restart(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    req = _req(h, price=95.0)
    ack = h.broker.place(req)
    broker = h.reopen()
    found = broker.find_by_client_id(req.client_order_id)
    assert found is not None and found.broker_order_id == ack.broker_order_id
    assert broker.find_by_client_id(_coid()) is None


def test_contract_in_doubt_lookups_of_several_orders_answer_each(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    resting, filled, never = _req(h, price=95.0), _req(h, order_type="MARKET"), _coid()
    h.broker.place(resting)
    h.broker.place(filled)
    h.tick(100.0)
    found = h.reopen().find_by_client_ids([resting.client_order_id, filled.client_order_id,
                                           never])
    assert found[never] is None and len(found) == 3
    assert found[resting.client_order_id].status == sm.ACCEPTED
    assert found[filled.client_order_id].status == sm.FILLED


def test_contract_positions_reconcile_with_trades(broker_factory):
    h = broker_factory()
    h.tick(100.0)
    h.broker.place(_req(h, order_type="MARKET", qty=10))
    h.tick(100.0)
    h.broker.place(_req(h, side=-1, order_type="MARKET", qty=4))
    h.tick(102.0)
    (pos,) = [p for p in h.broker.positions() if p.instrument == h.instrument]
    buys = [t for t in h.broker.trades() if t.side > 0]
    assert pos.qty == 6
    assert pos.avg_price == pytest.approx(sum(t.qty * t.price for t in buys) / 10)
    assert pos.realised_pnl_inr == pytest.approx(4 * (102.0 - pos.avg_price))


def test_contract_throttled_placement_is_retryable_and_creates_nothing(broker_factory):
    h = broker_factory(rate_limit_per_sec=3)
    if not h.rate_limit_per_sec:
        pytest.skip("broker has no placement rate limit to exercise")
    h.tick(100.0)
    for _ in range(h.rate_limit_per_sec):
        h.broker.place(_req(h, price=95.0))
    extra = _req(h, price=95.0)
    with pytest.raises(BrokerRetryable):
        h.broker.place(extra)
    assert h.broker.find_by_client_id(extra.client_order_id) is None
