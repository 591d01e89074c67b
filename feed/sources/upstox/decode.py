"""Upstox V3 `FeedResponse` protobuf messages -> TICK_DTYPE rows.

A message (brokers.md §2.3) is `FeedResponse{type, feeds: map<instrument_key, Feed>, currentTs
(epoch ms), marketInfo}`. Its type says what it is:

    initial_feed  the levels Upstox sends right after a subscription: rows get FLAG_SNAPSHOT
    live_feed     changes: plain rows
    market_info   segment statuses (NSE_EQ: NORMAL_OPEN, ...): kept in `market_status`, no rows

A Feed carries one of `ltpc` (ltpc mode), `fullFeed.marketFF` / `fullFeed.indexFF` (full mode) or
`firstLevelWithGreeks` (option_greeks mode). Fields taken: ltp -> price, ltq -> qty, ltt ->
ts_event_ns; in full mode also the first depth level's bidP/askP -> bid/ask, vtt -> volume, oi ->
oi. `cp` (previous close) has no slot in TICK_DTYPE and is not kept. Index feeds have no depth,
volume or OI (0).

Timestamps: ltt is the exchange's last-trade time in epoch milliseconds, so ts_event_ns = ltt * 1e6.
A feed without one (no trade yet today) takes the message's currentTs, else `wall_ns` (now_ns() at
receipt): an epoch time in every case, never the monotonic ts_recv_ns.

Protobuf is decoded by the protobuf runtime (upb, C) once per message; the per-feed work is a
handful of attribute reads and one tuple store into the caller's preallocated array, no other
allocation. Malformed input is counted and dropped, never raised: an undecodable (or empty) message
is dropped whole; a feed with no price or a non-positive or non-finite one is dropped alone; an
instrument key outside the instrument table is counted as unknown. Counters above uint32 saturate
(and are counted).
"""

from __future__ import annotations

import numpy as np
from google.protobuf.message import DecodeError
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from common.dtypes import FLAG_SNAPSHOT
from feed.sources.base import SourceStats

TYPE_INITIAL_FEED = pb.Type.Value("initial_feed")
TYPE_LIVE_FEED = pb.Type.Value("live_feed")
TYPE_MARKET_INFO = pb.Type.Value("market_info")

_NS_PER_MS = 1_000_000
_MAX_MS = (2**63 - 1) // _NS_PER_MS     # an ltt beyond this would overflow int64 ns
_U32 = 0xFFFFFFFF
_INF = float("inf")
COUNTERS = ("market_info", "dropped_overflow", "clamped", "unknown_message_type")


def key_index(rows: np.ndarray) -> dict[str, int]:
    """instrument_key -> row of the instrument table, from INSTRUMENT_DTYPE rows' `broker_key`.

    Rows without a broker_key are not Upstox instruments and are left out; a key listed twice is an
    error (two rows would fight over one feed)."""
    index: dict[str, int] = {}
    for row, raw in enumerate(rows["broker_key"]):
        key = raw.decode()
        if not key:
            continue
        if key in index:
            raise ValueError(
                f"instrument table lists the Upstox key {key!r} twice (rows {index[key]} and {row})"
            )
        index[key] = row
    return index


class UpstoxDecoder:
    """Decodes messages for one instrument table, adding its drop counts to `stats`.

    Not thread-safe: one decoder per thread (the source decodes on its connection thread only).
    """

    def __init__(self, index: dict[str, int], stats: SourceStats | None = None):
        self.index = index
        self.stats = stats if stats is not None else SourceStats()
        for key in COUNTERS:
            self.stats.extra.setdefault(key, 0)
        self.market_status: dict[str, str] = {}   # segment -> MarketStatus name, from market_info
        self.market_status_ts_ms = 0

    def decode(self, payload: bytes, out: np.ndarray, ts_recv_ns: int, wall_ns: int) -> int:
        """Decode one message into out[:n]; return n. `ts_recv_ns` is mono_ns() at receipt."""
        try:
            msg = pb.FeedResponse.FromString(payload) if payload else None
        except (DecodeError, ValueError, RecursionError):   # bad bytes, however the runtime says so
            msg = None
        if msg is None:
            self.stats.dropped_malformed += 1
            return 0
        kind = msg.type
        if kind == TYPE_MARKET_INFO:
            self._apply_market_info(msg)
            return 0
        if kind != TYPE_LIVE_FEED and kind != TYPE_INITIAL_FEED:
            self.stats.extra["unknown_message_type"] += 1   # still decoded: its feeds are data
        flags = FLAG_SNAPSHOT if kind == TYPE_INITIAL_FEED else 0
        current = msg.currentTs
        fallback_ns = current * _NS_PER_MS if 0 < current <= _MAX_MS else wall_ns
        return self._decode_feeds(msg.feeds, out, ts_recv_ns, fallback_ns, flags)

    def _decode_feeds(self, feeds, out, ts_recv_ns, fallback_ns, flags) -> int:
        index, stats, cap = self.index, self.stats, len(out)
        n = unknown = malformed = overflow = 0
        for key, feed in feeds.items():
            instrument = index.get(key)
            if instrument is None:
                unknown += 1
                continue
            values = self._values(feed)
            if values is None:
                malformed += 1
                continue
            if n >= cap:
                overflow += 1
                continue
            price, bid, ask, volume, oi, qty, ltt = values
            ts_event = ltt * _NS_PER_MS if 0 < ltt <= _MAX_MS else fallback_ns
            out[n] = (0, ts_event, ts_recv_ns, price, bid, ask, volume, oi, qty, instrument, flags)
            n += 1
        if unknown or malformed or overflow:
            stats.dropped_unknown += unknown
            stats.dropped_malformed += malformed
            stats.extra["dropped_overflow"] += overflow
        return n

    def _values(self, feed):
        """(price, bid, ask, volume, oi, qty, ltt_ms) of one Feed; None when it has no valid price.

        The in-range tests are inlined (a method call per field would cost more than the test); only
        out-of-range values take the slow `_clamp_*` path."""
        which = feed.WhichOneof("FeedUnion")
        bid = ask = 0.0
        volume = oi = 0
        if which == "ltpc":
            ltpc = feed.ltpc
        elif which == "fullFeed":
            full = feed.fullFeed
            sub = full.WhichOneof("FullFeedUnion")
            if sub == "marketFF":
                market = full.marketFF
                ltpc = market.ltpc
                quotes = market.marketLevel.bidAskQuote
                if quotes:
                    best = quotes[0]
                    bid, ask = best.bidP, best.askP
                volume, oi = market.vtt, market.oi
            elif sub == "indexFF":
                ltpc = full.indexFF.ltpc
            else:
                return None
        elif which == "firstLevelWithGreeks":
            first = feed.firstLevelWithGreeks
            ltpc = first.ltpc
            if first.HasField("firstDepth"):
                bid, ask = first.firstDepth.bidP, first.firstDepth.askP
            volume, oi = first.vtt, first.oi
        else:
            return None
        price = ltpc.ltp
        if not 0.0 < price < _INF:
            return None
        qty = ltpc.ltq
        if not (0.0 <= bid < _INF and 0.0 <= ask < _INF):
            bid, ask = self._clamp_price(bid), self._clamp_price(ask)
        if not (0 <= volume <= _U32 and 0 <= oi <= _U32 and 0 <= qty <= _U32):
            volume, oi, qty = self._clamp_u32(volume), self._clamp_u32(oi), self._clamp_u32(qty)
        return price, bid, ask, volume, int(oi), qty, ltpc.ltt

    def _clamp_u32(self, value) -> int:
        if 0 <= value <= _U32:
            return int(value)
        self.stats.extra["clamped"] += 1
        return _U32 if value > _U32 else 0   # NaN and negatives become 0

    def _clamp_price(self, value: float) -> float:
        if 0.0 <= value < _INF:
            return value
        self.stats.extra["clamped"] += 1
        return 0.0

    def _apply_market_info(self, msg) -> None:
        self.stats.extra["market_info"] += 1
        for segment, status in msg.marketInfo.segmentStatus.items():
            try:
                self.market_status[segment] = pb.MarketStatus.Name(status)
            except ValueError:   # a status newer than the compiled module
                self.market_status[segment] = str(status)
        self.market_status_ts_ms = msg.currentTs


def decode_message(payload: bytes, index: dict[str, int], out: np.ndarray, ts_recv_ns: int,
                   wall_ns: int, stats: SourceStats | None = None) -> int:
    """One-shot decode into out[:n] (tests, tools); a live source keeps an UpstoxDecoder."""
    return UpstoxDecoder(index, stats).decode(payload, out, ts_recv_ns, wall_ns)
