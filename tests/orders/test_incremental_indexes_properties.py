"""The orders hot path's incremental indexes against their from-scratch definitions, after EVERY
tick of any market hypothesis draws (the machinery of test_engine_properties: multi-day paths,
partial fills, slippage, refusals, legs re-priced from fills, SL and SL-M stops, the loss limit,
square-off), and across a kill of the orders process anywhere in its journal:

- the order book's subsets (working closes, working SL stops, square-off/flatten orders by
  instrument, working entries) are the filtered walk of the book;
- the desk's active brackets by instrument, and `reachable` on every instrument, are the walk over
  every active bracket and working close (a bracket whose share went stale shows up here);
- the price alerts the scan stops on are those of the working SL stops as the book has them now;
- the paper broker's quiet band, where it is marked valid, is exactly the band of its instrument's
  working orders as the broker's book has them now (a band left valid after a slot changed would
  let the kernel skip a tick that fills or triggers).
"""

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import statemachine as sm
from orders.orderbook import CLOSE_ROLES
from tests.orders.scenario import batches
from tests.orders.stubs import Desk
from tests.orders.test_brackets_reachable import reachable_from_scratch
from tests.orders.test_engine_properties import (crash_and_restore_market, make_desk, markets)

EXAMPLES = int(os.environ.get("OTRADE_PROPERTY_EXAMPLES", "120"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=not os.environ.get("OTRADE_PROPERTY_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow])


def quiet_band_from_scratch(orders, tick: float) -> tuple[float, float]:
    """The band where none of `orders` (PaperOrders of one instrument) fills or triggers."""
    lo, hi = -np.inf, np.inf
    eps = tick * 1e-6
    for o in orders:
        if o.leaves <= 0:
            continue
        stop = o.order_type in ("SL", "SL-M")
        if stop and not o.triggered:
            o_lo, o_hi = (o.trigger_price + eps, np.inf) if o.side < 0 else \
                (-np.inf, o.trigger_price - eps)
        elif o.order_type in ("MARKET", "SL-M"):
            o_lo, o_hi = np.inf, -np.inf
        elif o.side > 0:
            o_lo, o_hi = o.price + eps, np.inf
        else:
            o_lo, o_hi = -np.inf, o.price - eps
        lo, hi = max(lo, o_lo), min(hi, o_hi)
    return lo, hi


def alerts_from_scratch(book, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    for o in book.working():
        if o.role != "STOP" or o.order_type != "SL" or o.status == sm.CANCEL_PENDING:
            continue
        gap = abs(o.trigger_price - o.price)
        if o.side < 0:
            lo[o.instrument] = max(lo[o.instrument], o.price - gap)
        else:
            hi[o.instrument] = min(hi[o.instrument], o.price + gap)
    return lo, hi


def check_indexes(desk: Desk) -> None:
    eng, book = desk.engine, desk.engine.book
    orders = list(book.orders.values())
    working = [o for o in orders if o.working]
    assert book.working() == working
    assert book.working_entries() == [o for o in working if o.role == "ENTRY"]
    assert book.working_closes() == [o for o in working if o.role in CLOSE_ROLES]
    assert book.working_sl_stops() == [o for o in working
                                       if o.role == "STOP" and o.order_type == "SL"]
    n = len(desk.rows)
    for k in range(n):
        assert book.closes_on(k) == [o for o in orders
                                     if o.instrument == k and o.role in CLOSE_ROLES]
        assert eng.desk.active_on(k) == [b for b in eng.desk.active.values() if b.instrument == k]
        want = reachable_from_scratch(eng.desk, k, book)
        assert eng.desk.reachable(k, book) == want, k
    lo, hi = alerts_from_scratch(book, n)
    assert np.array_equal(eng.exposure.alert_lo[:n], lo), (eng.exposure.alert_lo, lo)
    assert np.array_equal(eng.exposure.alert_hi[:n], hi), (eng.exposure.alert_hi, hi)
    check_band(desk)


def check_band(desk: Desk) -> None:
    paper = desk.paper
    w, working = paper._working, paper._book.working()
    for k in range(len(desk.rows)):
        if not w.band[k, 2]:
            continue
        mine = [o for o in working if o.instrument == k]
        want = quiet_band_from_scratch(mine, float(paper._tick_size[k]))
        assert (w.band[k, 0], w.band[k, 1]) == want, (k, w.band[k], want, mine)


@PROPERTY
@given(markets())
def test_indexes_equal_their_definitions_after_every_tick_of_any_market(market):
    ticks, intents, mod, options, loss_limit = market
    with tempfile.TemporaryDirectory() as d:
        desk = make_desk(d, mod, options, loss_limit)
        try:
            check_after_every_tick(desk, ticks, intents)
        finally:
            desk.close()


def check_after_every_tick(desk, ticks, intents) -> None:
    """Feed `ticks` one at a time with the intents raised on each; check the indexes after each."""
    by_seq: dict[int, list] = {}
    for it in intents:
        by_seq.setdefault(it.tick_seq, []).append(it)
    for i in range(len(ticks)):
        desk.engine.advance(ticks[i:i + 1], by_seq.get(int(ticks["seq"][i]), []))
        check_indexes(desk)


@PROPERTY
@given(markets(), st.floats(0.0, 1.0), st.integers(1, 400))
def test_indexes_equal_their_definitions_after_a_kill_anywhere(market, where, cut):
    """Killed at a random point of its journal, restored (a new paper broker on its journal, a new
    engine on the events): the indexes rebuilt from the journals are their definitions, and stay
    so batch after batch."""
    ticks, intents, mod, options, loss_limit = market
    cuts = list(range(cut, len(ticks), cut))
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        ref = make_desk(a, mod, options, loss_limit)
        for part, its in batches(ticks, intents, cuts):
            ref.engine.advance(part, its)
            check_indexes(ref)
        n = len(ref.events)
        ref.close()
        if n < 2:
            return
        crashed = crash_and_restore_market(b, ticks, intents, cuts, int(where * (n - 1)), mod,
                                           options, loss_limit)
        try:
            check_indexes(crashed)
        finally:
            crashed.close()


@PROPERTY
@given(markets(), st.lists(st.tuples(st.integers(1, 60), st.sampled_from(["before", "after"])),
                           max_size=6, unique_by=lambda f: f[0]))
def test_indexes_equal_their_definitions_with_placements_in_doubt(market, lost):
    """Placements whose answer is lost (a timeout before the broker got it, or after): the orders
    sit IN_DOUBT, are looked up and sent again; every index follows them there and back."""
    from common.errors import BrokerRetryable
    from tests.orders.stubs import FlakyBroker

    ticks, intents, _mod, options, loss_limit = market
    failures = {n: (when, BrokerRetryable("read timeout")) for n, when in lost}
    with tempfile.TemporaryDirectory() as d:
        desk = make_desk(d, 0, options, loss_limit)
        desk.broker = desk.engine.gateway.broker = FlakyBroker(desk.paper, failures)
        try:
            check_after_every_tick(desk, ticks, intents)
        finally:
            desk.close()


@PROPERTY
@given(markets())
def test_engine_journal_is_the_same_with_the_every_slot_matcher(market):
    """The whole engine over a paper broker matching with chains and quiet bands, and over one
    matching every slot on every tick (test_matching_reference's brute_match): one journal. Legs
    re-priced from fills, stops through the market, SL limits gapped, square-offs and flattens all
    move resting orders that a band computed earlier must not skip."""
    from tests.orders.brokers.paper.test_matching_reference import brute_match
    from tests.orders.stubs import comparable

    ticks, intents, mod, options, loss_limit = market
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        kernel = make_desk(a, mod, options, loss_limit)
        brute = make_desk(b, mod, options, loss_limit)
        w = brute.paper._working
        w.match = lambda *args: brute_match(w, *args)
        try:
            for desk in (kernel, brute):
                for part, its in batches(ticks, intents, list(range(7, len(ticks), 7))):
                    desk.engine.advance(part, its)
            assert comparable(kernel.events) == comparable(brute.events)
        finally:
            kernel.close()
            brute.close()
