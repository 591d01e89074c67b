"""The paper broker's quiet bands under any sequence hypothesis draws of placements, modifies that
move an order's price, trigger or quantity, cancels, tick runs that trigger stops (SL resting as a
LIMIT afterwards, SL-M filling), partial fills, bursts of orders whose fills make the slot arrays
compact, and reopening the broker from its journal.

Two paper brokers take the same calls: one matches with the kernel (chains and quiet bands), the
other with test_matching_reference's `brute_match` (every slot, every tick). Their answers, fills
and triggers must be the same call for call, and wherever the kernel's band is marked valid it is
the band of its instrument's working orders as the broker's book has them now.
"""

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.dtypes import TICK_DTYPE
from common.errors import BrokerRejected
from orders.brokers.base import OrderRequest
from orders.brokers.paper.broker import PaperBroker
from tests.orders.brokers.paper.test_matching_reference import brute_match
from tests.orders.stubs import instruments, ist_ns
from tests.orders.test_incremental_indexes_properties import quiet_band_from_scratch

EXAMPLES = int(os.environ.get("OTRADE_PROPERTY_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=not os.environ.get("OTRADE_PROPERTY_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow])
N, TICK = 2, 0.05
TYPES = ("MARKET", "LIMIT", "SL", "SL-M")

op = st.one_of(
    st.tuples(st.just("place"), st.integers(0, N - 1), st.sampled_from([1, -1]),
              st.sampled_from(TYPES), st.integers(-4, 6), st.integers(1, 6), st.integers(0, 2)),
    st.tuples(st.just("modify"), st.integers(0, 50), st.integers(-3, 3), st.integers(-6, 6),
              st.integers(-6, 6)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("ticks"), st.lists(st.tuples(st.integers(0, N - 1), st.integers(-3, 3)),
                                         min_size=1, max_size=12)),
    st.tuples(st.just("reopen")),
    # many orders at once: once they fill, dead slots outnumber live ones and the arrays compact
    st.tuples(st.just("burst"), st.integers(0, N - 1), st.integers(30, 45)),
)


def _open(directory: str, name: str, max_fill: int, brute: bool) -> PaperBroker:
    broker = PaperBroker(os.path.join(directory, name), instruments(N, tick_size=TICK),
                         slippage_ticks=1, max_fill_qty_per_tick=max_fill)
    if brute:
        w = broker._working
        w.match = lambda *args: brute_match(w, *args)
    return broker


def _try(call):
    try:
        return call()
    except BrokerRejected as e:
        return f"rejected: {e}"


def _check_band(broker: PaperBroker) -> None:
    w, working = broker._working, broker._book.working()
    for k in range(N):
        if w.band[k, 2]:
            mine = [o for o in working if o.instrument == k]
            assert (w.band[k, 0], w.band[k, 1]) == quiet_band_from_scratch(mine, TICK), k


def _step(brokers, step, level, state) -> list:
    kind = step[0]
    if kind == "burst":
        _, k, n = step
        out = []
        for i in range(n):
            side = 1 if i % 2 else -1
            out += _step(brokers, ("place", k, side, "MARKET", 0, 1, 0), level, state)
        return out
    if kind == "place":
        _, k, side, otype, away, qty, after = step
        price = trigger = 0.0
        if otype in ("SL", "SL-M"):
            trigger = round((level[k] + side * away) * TICK, 2)
        if otype == "LIMIT":
            price = round((level[k] - side * away) * TICK, 2)
        if otype == "SL":
            price = round(trigger + side * 2 * TICK, 2)
        if (otype in ("SL", "SL-M") and trigger <= 0) or (otype in ("LIMIT", "SL") and price <= 0):
            return []
        coid = f"C{len(state['placed'])}"
        req = OrderRequest(coid, k, f"SYM{k}", "NSE", side, qty, otype, price, trigger,
                           after_seq=state["seq"] + after)
        out = [b.place(req).status for b in brokers]
        state["placed"].append(brokers[0].find_by_client_id(coid).broker_order_id)
        return [out]
    if not state["placed"] and kind in ("modify", "cancel"):
        return []
    if kind == "modify":
        _, i, dq, dp, dt = step
        boid = state["placed"][i % len(state["placed"])]
        o = brokers[0]._book.orders[boid]
        qty = max(1, o.qty + dq)
        price = round(o.price + dp * TICK, 2) if o.price > 0 else None
        trigger = round(o.trigger_price + dt * TICK, 2) if o.trigger_price > 0 else None
        if (price is not None and price <= 0) or (trigger is not None and trigger <= 0):
            return []
        return [[_try(lambda b=b: b.modify(boid, qty=qty, price=price,
                                           trigger_price=trigger).status) for b in brokers]]
    if kind == "cancel":
        boid = state["placed"][step[1] % len(state["placed"])]
        return [[_try(lambda b=b: b.cancel(boid).status) for b in brokers]]
    moves = step[1]
    ticks = np.zeros(len(moves), TICK_DTYPE)
    for i, (k, move) in enumerate(moves):
        level[k] = max(10, level[k] + move)
        state["seq"] += 1
        ticks["seq"][i], ticks["instrument"][i] = state["seq"], k
        ticks["ts_event_ns"][i] = ist_ns(10, 0) + state["seq"] * 1_000_000
        ticks["price"][i] = level[k] * TICK
    out, start = [], 0
    while start < len(ticks):
        stops = [b.on_ticks(ticks, start, len(ticks)) for b in brokers]
        out.append(stops)
        start = stops[0] + 1
    return out


@PROPERTY
@given(st.lists(op, max_size=60), st.sampled_from([0, 1, 3]))
def test_quiet_bands_never_skip_a_tick_that_fills_or_triggers(steps, max_fill):
    with tempfile.TemporaryDirectory() as d:
        brokers = [_open(d, "k.jsonl", max_fill, False), _open(d, "b.jsonl", max_fill, True)]
        level = [2000] * N
        state = {"seq": 0, "placed": []}
        try:
            for step in steps:
                if step[0] == "reopen":
                    for b in brokers:
                        b.close()
                    brokers = [_open(d, "k.jsonl", max_fill, False),
                               _open(d, "b.jsonl", max_fill, True)]
                    continue
                out = _step(brokers, step, level, state)
                assert all(a == b for a, b in out), (step, out)
                # trades and, for a stop that triggered without filling, the order's snapshot
                reports = [b.poll_events() for b in brokers]
                assert reports[0] == reports[1], step
                orders = [[(o.status, o.filled_qty, o.qty, o.price, o.trigger_price)
                           for o in b.orders()] for b in brokers]
                assert orders[0] == orders[1], step
                _check_band(brokers[0])
        finally:
            for b in brokers:
                b.close()
