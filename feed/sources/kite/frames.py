"""Encode market state as real KiteTicker frames: the inverse of decode.py.

Used by the local ticker server (localvenue/feeds/kite_ticker.py) and by tests. Not on a hot path:
plain struct packing. Packet layouts are in decode.py's docstring; prices are rounded to the
segment's integer unit, so a price survives encode -> decode exactly when it is a multiple of that
unit (every real tick price is).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from feed.sources.kite.decode import SEGMENT_INDICES, segment_divisor
from feed.sources.kite.protocol import MODE_FULL, MODE_LTP, MODE_QUOTE

HEARTBEAT = b"\x00"  # Kite's 1-byte keep-alive; its value carries no meaning

_U32_MAX = 0xFFFFFFFF


@dataclass(frozen=True)
class DepthLevel:
    price: float
    qty: int
    orders: int = 1


@dataclass(frozen=True)
class KiteQuote:
    """One instrument's state as a full packet carries it (rupees, epoch seconds)."""

    token: int
    last_price: float
    last_qty: int = 0
    average_price: float = 0.0
    volume: int = 0
    buy_qty: int = 0
    sell_qty: int = 0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    last_trade_time: int = 0
    oi: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    exchange_ts: int = 0
    bids: tuple = ()   # up to five DepthLevel, best first
    asks: tuple = ()


def is_index(token: int) -> bool:
    return token & 0xFF == SEGMENT_INDICES


def _units(price: float, divisor: float) -> int:
    units = int(round(price * divisor))
    if not 0 <= units <= _U32_MAX:
        raise ValueError(f"price {price} does not fit a KiteTicker uint32 at divisor {divisor:g}")
    return units


def encode_packet(q: KiteQuote, mode: str) -> bytes:
    """The packet Kite sends for `q` in `mode`; index tokens get the 28/32-byte index layouts."""
    d = float(segment_divisor(q.token))
    p = lambda x: _units(x, d)  # noqa: E731 - keeps the pack calls readable
    if mode == MODE_LTP:
        return struct.pack(">II", q.token, p(q.last_price))
    if mode not in (MODE_QUOTE, MODE_FULL):
        raise ValueError(f"unknown KiteTicker mode {mode!r}")
    if is_index(q.token):
        # Bytes 24-28 are documented as the price change but pykiteconnect never reads them; send 0.
        body = struct.pack(">IIIIIII", q.token, p(q.last_price), p(q.high), p(q.low), p(q.open),
                           p(q.close), 0)
        return body + struct.pack(">I", q.exchange_ts) if mode == MODE_FULL else body
    body = struct.pack(">IIIIIIIIIII", q.token, p(q.last_price), q.last_qty, p(q.average_price),
                       q.volume, q.buy_qty, q.sell_qty, p(q.open), p(q.high), p(q.low), p(q.close))
    if mode == MODE_QUOTE:
        return body
    body += struct.pack(
        ">IIIII", q.last_trade_time, q.oi, q.oi_day_high, q.oi_day_low, q.exchange_ts
    )
    return body + _depth(q.bids, d) + _depth(q.asks, d)


def _depth(levels: tuple, divisor: float) -> bytes:
    if len(levels) > 5:
        raise ValueError("KiteTicker depth has five levels a side")
    out = b"".join(
        struct.pack(">IIHxx", lv.qty, _units(lv.price, divisor), lv.orders) for lv in levels
    )
    return out + bytes(12 * (5 - len(levels)))


def encode_frame(packets) -> bytes:
    """One websocket binary message: uint16 count, then each packet behind its uint16 length."""
    packets = list(packets)
    if len(packets) > 0xFFFF:
        raise ValueError("a KiteTicker frame holds at most 65535 packets")
    parts = [struct.pack(">H", len(packets))]
    for pkt in packets:
        parts.append(struct.pack(">H", len(pkt)))
        parts.append(pkt)
    return b"".join(parts)


def encode_quotes(quotes, mode_of) -> bytes:
    """A frame with one packet per quote; `mode_of(token)` picks each packet's mode."""
    return encode_frame(encode_packet(q, mode_of(q.token)) for q in quotes)


def truncated_frame(frame: bytes, cut: int = 3) -> bytes:
    """`frame` with its last `cut` bytes missing: the count and lengths no longer add up."""
    return frame[:-cut]


def overlong_frame(frame: bytes) -> bytes:
    """`frame` whose count claims one packet more than it holds."""
    count = struct.unpack_from(">H", frame)[0]
    return struct.pack(">H", count + 1) + frame[2:]
