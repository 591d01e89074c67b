"""The four stages of the peers' multi-process pipelines, written once over `send` / `recv`
callables.

feed → signals → orders → positions, one message per tick, a dict as a developer writes it:
feed sends {"token", "ltp", "qty", "volume", "ts"}; signals adds "signal" (the crossover's side, 0
for none); orders runs the pre-trade check and hands an intent's order to the paper broker, and
sends {"token", "ltp", "fill"} on; positions applies fills and marks to market. `None` is the end of
the session and travels the same way. mpqueue.py and zmqonly.py differ only in the transport behind
`send` / `recv`, so the two measure the transport and the per-tick Python, not two designs.

Clock: `ts` is time.monotonic_ns() in the feed, right before the send; orders takes the same clock
when it hands the order to the broker (CLOCK_MONOTONIC is one clock for every process on Linux), so
the difference is tick → order. At live pace the feed sleeps until each tick's recorded time comes
(2,000 ticks/s in the session); it never spins.
"""

from __future__ import annotations

import time

from benchmarks.peers.paper import Book, PaperBroker, risk_ok
from benchmarks.peers.strategy import Crossover


def feed_loop(cols: dict, send, paced: bool) -> dict:
    tokens, prices = cols["token"].tolist(), cols["price"].tolist()
    qtys, volumes, stamps = (
        cols["qty"].tolist(),
        cols["volume"].tolist(),
        cols["ts_event_ns"].tolist(),
    )
    clock, sleep = time.monotonic_ns, time.sleep
    origin = stamps[0] if stamps else 0
    start = clock()
    for i in range(len(prices)):
        if paced:
            wait_ns = start + (stamps[i] - origin) - clock()
            if wait_ns > 0:
                sleep(wait_ns / 1e9)
        send(
            {
                "token": tokens[i],
                "ltp": prices[i],
                "qty": qtys[i],
                "volume": volumes[i],
                "ts": clock(),
            }
        )
    send(None)
    return {"sent": len(prices), "first_sent_ns": start}


def signals_loop(recv, send, params: dict) -> dict:
    on_price = Crossover(**params).on_price
    ticks = intents = 0
    while (msg := recv()) is not None:
        side = on_price(msg["token"], msg["ltp"])
        msg["signal"] = side
        if side:
            intents += 1
        ticks += 1
        send(msg)
    send(None)
    return {"ticks": ticks, "intents": intents}


def orders_loop(recv, send, qty: int) -> dict:
    broker, clock = PaperBroker(), time.monotonic_ns
    samples: list[int] = []
    ticks = denied = 0
    while (msg := recv()) is not None:
        ticks += 1
        fill = None
        side = msg["signal"]
        if side:
            if risk_ok(qty, msg["ltp"]):
                handed_ns = clock()
                fill = broker.place_order(msg["token"], side, qty, msg["ltp"])
                samples.append(handed_ns - msg["ts"])
            else:
                denied += 1
        send({"token": msg["token"], "ltp": msg["ltp"], "fill": fill})
    send(None)
    return {
        "ticks": ticks,
        "orders": len(broker.orders),
        "denied": denied,
        "tick_to_order_ns": samples,
    }


def positions_loop(recv) -> dict:
    book = Book()
    ticks = 0
    while (msg := recv()) is not None:
        if msg["fill"] is not None:
            book.apply(msg["token"], msg["fill"])
        book.mark(msg["token"], msg["ltp"])
        ticks += 1
    return {
        "ticks": ticks,
        "fills": book.fills,
        "pnl_inr": round(book.pnl(), 2),
        "done_ns": time.monotonic_ns(),
    }


def run_stage(name: str, recv, send, job: dict) -> dict:
    """One stage's loop by name; `job` carries the feed's columns and pace, the strategy's
    params."""
    if name == "feed":
        return feed_loop(job["cols"], send, job["paced"])
    if name == "signals":
        return signals_loop(recv, send, job["params"])
    if name == "orders":
        return orders_loop(recv, send, job["params"]["qty"])
    return positions_loop(recv)
