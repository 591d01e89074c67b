"""Peer: one process, a KiteTicker `on_ticks(ws, ticks)` callback that does everything, as most Kite
users write it.

The session's ticks are encoded as real KiteTicker full-mode frames (feed/sources/kite/frames.py;
one depth level a side from the tick's bid and ask), a frame being a run of consecutive ticks of
distinct instruments, as a frame carries at most one packet per instrument. Each frame goes through
pykiteconnect's own message handler (`KiteTicker._on_message`: `_parse_binary`, then `on_ticks`), so
the SDK's parse is paid as a Kite user pays it, without a socket. The callback updates the crossover
in Python, runs the pre-trade check, calls `place_order` on the in-process paper broker and updates
the book inline. Encoding the frames (the exchange's work) is done before the clock starts.

Throughput: ticks / wall time of handing every frame over. Latency: ticks handed to `on_ticks` →
order handed to the broker. At live pace each frame is handed over when its last tick's recorded
time comes (2,000 ticks/s); the loop sleeps in between.
"""

from __future__ import annotations

import struct
import time

import numpy as np

from benchmarks.peers.paper import Book, PaperBroker, risk_ok
from benchmarks.peers.result import make_entry
from benchmarks.peers.strategy import Crossover
from benchmarks.peers.ticks import SessionTicks
from benchmarks.stats import summarize

MAX_PACKETS = 50      # a frame never carries more packets than instruments subscribed


def frame_bounds(instrument) -> list[tuple[int, int]]:
    """(start, end) of each frame: the longest runs of ticks whose instruments are all distinct."""
    bounds: list[tuple[int, int]] = []
    seen: set[int] = set()
    start = 0
    for i, k in enumerate(instrument.tolist()):
        if k in seen or len(seen) == MAX_PACKETS:
            bounds.append((start, i))
            seen, start = set(), i
        seen.add(k)
    if start < len(instrument):
        bounds.append((start, len(instrument)))
    return bounds


_U4 = ">u4"
# A full-mode packet (feed/sources/kite/decode.py has the layout) behind its uint16 length, as a
# frame carries it: building every packet at once with numpy keeps the setup of a million ticks to a
# second.
FULL_PACKET_DTYPE = np.dtype(
    [
        ("length", ">u2"),
        *(
            (name, _U4)
            for name in (
                "token",
                "last_price",
                "last_qty",
                "average_price",
                "volume",
                "buy_qty",
                "sell_qty",
                "open",
                "high",
                "low",
                "close",
                "last_trade_time",
                "oi",
                "oi_day_high",
                "oi_day_low",
                "exchange_ts",
            )
        ),
        ("depth", [("qty", _U4), ("price", _U4), ("orders", ">u2"), ("pad", ">u2")], (10,)),
    ]
)


def full_packets(ticks: SessionTicks) -> np.ndarray:
    """One length-prefixed full packet per tick: one depth level a side (bid, ask), OHLC close
    only."""
    from feed.sources.kite.decode import LEN_FULL, segment_divisor

    divisor = np.array([segment_divisor(int(t)) for t in ticks.tokens])[ticks.instrument]
    units = lambda prices: np.rint(prices * divisor).astype(np.uint32)   # noqa: E731
    out = np.zeros(len(ticks), dtype=FULL_PACKET_DTYPE)
    seconds = (ticks.ts_event_ns // 1_000_000_000).astype(np.uint32)
    out["length"], out["token"], out["last_qty"], out["volume"] = (
        LEN_FULL,
        ticks.token,
        ticks.qty,
        ticks.volume,
    )
    out["last_price"] = out["average_price"] = units(ticks.price)
    out["close"] = units(ticks.ref_prices[ticks.instrument])
    out["last_trade_time"] = out["exchange_ts"] = seconds
    for level, prices in ((0, ticks.bid), (5, ticks.ask)):     # best bid, then best offer
        out["depth"][:, level]["qty"] = ticks.qty
        out["depth"][:, level]["price"] = units(prices)
        out["depth"][:, level]["orders"] = 1
    return out


def encode_frames(ticks: SessionTicks) -> tuple[list[bytes], list[int]]:
    """The frames, and each one's due time in ns after the first tick (its last tick's time)."""
    packets = full_packets(ticks)
    stamps = ticks.ts_event_ns.tolist()
    origin = stamps[0] if stamps else 0
    frames, due = [], []
    for start, end in frame_bounds(ticks.instrument):
        frames.append(struct.pack(">H", end - start) + packets[start:end].tobytes())
        due.append(stamps[end - 1] - origin)
    return frames, due


class KiteStyleApp:
    """The user's program: strategy state, a broker and a book, and the `on_ticks` that drives
    them."""

    def __init__(self, params: dict):
        self.on_price = Crossover(**params).on_price
        self.qty = params["qty"]
        self.broker, self.book = PaperBroker(), Book()
        self.samples: list[int] = []
        self.ticks = self.intents = 0

    def on_ticks(self, ws, ticks: list[dict]) -> None:
        handed_ns = time.monotonic_ns()
        for tick in ticks:
            token, ltp = tick["instrument_token"], tick["last_price"]
            side = self.on_price(token, ltp)
            if side:
                self.intents += 1
                if risk_ok(self.qty, ltp):
                    self.samples.append(time.monotonic_ns() - handed_ns)
                    self.book.apply(token, self.broker.place_order(token, side, self.qty, ltp))
            self.book.mark(token, ltp)
        self.ticks += len(ticks)


def run(frames: list[bytes], due_ns: list[int], params: dict, paced: bool) -> dict:
    from kiteconnect import KiteTicker

    app = KiteStyleApp(params)
    kws = KiteTicker("bench-key", "bench-token")     # constructing it does not connect
    kws.on_ticks = app.on_ticks
    on_message, clock = kws._on_message, time.monotonic_ns
    start = clock()
    for frame, due in zip(frames, due_ns):
        if paced:
            wait_ns = start + due - clock()
            if wait_ns > 0:
                time.sleep(wait_ns / 1e9)
        on_message(None, frame, True)
    elapsed_s = (clock() - start) / 1e9
    return {"ticks_per_s": app.ticks / elapsed_s if elapsed_s > 0 else None, "ticks": app.ticks,
            "frames": len(frames), "intents": app.intents, "orders": len(app.broker.orders),
            "fills": app.book.fills, "tick_to_order": summarize(app.samples)}


def measure(session) -> dict:
    started = time.monotonic()
    frames, due = encode_frames(session.ticks)
    encode_s = round(time.monotonic() - started, 2)
    replay = run(frames, due, session.params, paced=False)
    live = run(*encode_frames(session.live), session.params, paced=True)
    return {"replay": replay, "live": live, "encode_s": encode_s}


def entry(detail: dict) -> dict:
    replay, live = detail["replay"], detail["live"]
    per_frame = replay["ticks"] / max(replay["frames"], 1)
    note = (
        f"1 process, KiteTicker._on_message → _parse_binary → on_ticks, {per_frame:.1f} "
        "ticks per full-mode frame; latency from on_ticks entry (SDK parse before it); exact "
        "percentiles"
    )
    return make_entry(
        replay["ticks_per_s"], live["tick_to_order"], replay["intents"], replay["orders"], note
    )
