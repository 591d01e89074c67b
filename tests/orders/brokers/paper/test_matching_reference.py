"""The matching kernel (per-instrument chains, quiet bands) against its definition: every working
slot of the tick's instrument, in slot order, on every tick.

Two paper brokers take the same seeded stream of placements, modifies, cancels and ticks; one
matches with the kernel, the other with `brute_match`, a pure-Python loop over every slot. Their
fills, triggers and stop indices must be the same, call for call.
"""

import numpy as np
import pytest

from common.dtypes import TICK_DTYPE
from common.errors import BrokerRejected
from orders.brokers.base import BrokerOrder, OrderRequest
from orders.brokers.paper.broker import PaperBroker
from orders.brokers.paper.matching import EV_FILL, EV_TRIGGER, _match_one
from tests.orders.stubs import instruments, ist_ns

N_INSTRUMENTS, TICK = 3, 0.05
TYPES = ("MARKET", "LIMIT", "SL", "SL-M")


def brute_match(w, ticks, start, stop, tick_size, slippage_ticks, max_fill, clock):
    """WorkingOrders.match by definition: every slot of the tick's instrument, in slot order."""
    match_one = getattr(_match_one, "py_func", _match_one)
    n_ev = 0
    for t in range(start, stop):
        tick = ticks[t]
        if tick["seq"] <= clock[0]:
            continue
        clock[0], clock[1] = tick["seq"], tick["ts_event_ns"]
        k = tick["instrument"]
        for o in range(w.n):
            if w.instr[o] != k:
                continue
            qty, px, fresh = match_one(o, tick["price"], tick["seq"], w.otype, w.side, w.price,
                                       w.trigger, w.leaves, w.after_seq, w.triggered,
                                       tick_size[k], slippage_ticks, max_fill)
            if qty > 0 or fresh:
                w.ev_kind[n_ev] = EV_FILL if qty > 0 else EV_TRIGGER
                w.ev_qty[n_ev] = qty
                w.ev_price[n_ev] = px if qty > 0 else tick["price"]
                w.ev_slot[n_ev], w.ev_tick[n_ev] = o, t
                n_ev += 1
            if qty > 0:
                w.leaves[o] -= qty
        if n_ev > 0:           # a fill or a stop's trigger: the engine reacts before the next tick
            return t, n_ev
    return stop, n_ev


def _request(rng, coid: str, level: np.ndarray, seq: int) -> OrderRequest:
    k = int(rng.integers(0, N_INSTRUMENTS))
    side, kind = int(rng.choice((1, -1))), str(rng.choice(TYPES))
    away = int(rng.integers(-4, 8))           # ticks from the market; negative: marketable
    price = trigger = 0.0
    if kind in ("SL", "SL-M"):                # a buy stop above the market, a sell stop below
        trigger = round(float(level[k] + side * away) * TICK, 2)
    if kind == "LIMIT":                       # a buy limit below the market, a sell limit above
        price = round(float(level[k] - side * away) * TICK, 2)
    if kind == "SL":
        price = round(trigger + side * 2 * TICK, 2)
    return OrderRequest(coid, k, f"SYM{k}", "NSE", side, int(rng.integers(1, 30)), kind, price,
                        trigger, after_seq=seq + int(rng.integers(0, 3)))


def _session(rng, brokers, n_steps: int) -> list:
    level = np.full(N_INSTRUMENTS, 2000)      # prices in ticks
    seq, out, placed = 0, [], []
    for step in range(n_steps):
        roll = rng.random()
        if roll < 0.25:
            req = _request(rng, f"C{step}", level, seq)
            out.append([b.place(req).status for b in brokers])
            placed.append(brokers[0].find_by_client_id(req.client_order_id))
        elif roll < 0.35 and placed:
            order = placed[int(rng.integers(0, len(placed)))]
            out.append([_try(lambda b: b.cancel(order.broker_order_id).status, b)
                        for b in brokers])
        elif roll < 0.45 and placed:
            order = placed[int(rng.integers(0, len(placed)))]
            qty = order.qty + int(rng.integers(1, 10))
            out.append([_try(lambda b: b.modify(order.broker_order_id, qty=qty).status, b)
                        for b in brokers])
        else:
            ticks = np.zeros(int(rng.integers(1, 40)), TICK_DTYPE)
            for i in range(len(ticks)):
                k = int(rng.integers(0, N_INSTRUMENTS))
                level[k] += int(rng.integers(-3, 4))
                seq += 1
                ticks["seq"][i], ticks["instrument"][i] = seq, k
                ticks["ts_event_ns"][i] = ist_ns(10, 0) + seq * 1_000_000
                ticks["price"][i] = level[k] * TICK
            start = 0
            while start < len(ticks):
                stops = [b.on_ticks(ticks, start, len(ticks)) for b in brokers]
                out.append(stops)
                start = stops[0] + 1
        out.append([[report(e) for e in b.poll_events()] for b in brokers])
    return out


def report(e) -> tuple:
    """A fill (BrokerTrade) or a stop's trigger (BrokerOrder), comparable across brokers."""
    if isinstance(e, BrokerOrder):
        return ("triggered", e.client_order_id, e.triggered, e.filled_qty)
    return (e.trade_id, e.qty, e.price, e.tick_seq)


def _try(call, broker):
    try:
        return call(broker)
    except BrokerRejected as e:
        return f"rejected: {e}"


@pytest.mark.parametrize("seed", range(6))
def test_kernel_matches_like_every_slot_in_slot_order(tmp_path, seed):
    rng = np.random.default_rng(seed)
    rows = instruments(N_INSTRUMENTS, tick_size=TICK, freeze_qty=0)
    max_fill = int(rng.choice((0, 7)))
    kernel = PaperBroker(str(tmp_path / "k.jsonl"), rows, slippage_ticks=1,
                         max_fill_qty_per_tick=max_fill)
    brute = PaperBroker(str(tmp_path / "b.jsonl"), rows, slippage_ticks=1,
                        max_fill_qty_per_tick=max_fill)
    w = brute._working
    w.match = lambda *args: brute_match(w, *args)
    steps = _session(rng, (kernel, brute), 600)
    assert all(a == b for a, b in steps)
    assert sum(1 for s in steps if isinstance(s[0], list) and s[0]) > 20   # fills really happened
    kernel.close()
    brute.close()
