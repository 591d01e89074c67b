"""Encode market state as real Upstox V3 `FeedResponse` messages: the inverse of decode.py.

Built with the SDK's compiled protobuf module, so what the local server
(localvenue/feeds/upstox_feed.py) and the tests send is byte-for-byte the wire format a client of
Upstox receives. Not on a hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from feed.sources.upstox.decode import TYPE_LIVE_FEED, TYPE_MARKET_INFO
from feed.sources.upstox.protocol import MODE_FULL, MODE_FULL_D30, MODE_LTPC, MODE_OPTION_GREEKS

_REQUEST_MODE = {MODE_LTPC: "ltpc", MODE_FULL: "full_d5", MODE_OPTION_GREEKS: "option_greeks",
                 MODE_FULL_D30: "full_d30"}


@dataclass(frozen=True)
class UpstoxQuote:
    """One instrument's state (rupees, epoch milliseconds) as a full feed carries it."""

    key: str                 # instrument_key, e.g. "NSE_EQ|INE002A01018"
    ltp: float
    ltt_ms: int = 0          # last trade time
    ltq: int = 0             # last traded quantity
    cp: float = 0.0          # previous close
    bid: float = 0.0         # best bid / ask (first depth level); 0 leaves the depth out
    ask: float = 0.0
    bid_qty: int = 0
    ask_qty: int = 0
    volume: int = 0          # vtt: volume traded today
    oi: float = 0.0
    index: bool = False      # an index (NSE_INDEX|...): full mode sends indexFF, without depth


def _fill_ltpc(ltpc, q: UpstoxQuote) -> None:
    ltpc.ltp, ltpc.ltt, ltpc.ltq, ltpc.cp = q.ltp, q.ltt_ms, q.ltq, q.cp


def _fill_feed(feed, q: UpstoxQuote, mode: str) -> None:
    feed.requestMode = pb.RequestMode.Value(_REQUEST_MODE[mode])
    if mode == MODE_LTPC:
        _fill_ltpc(feed.ltpc, q)
    elif mode == MODE_OPTION_GREEKS:
        first = feed.firstLevelWithGreeks
        _fill_ltpc(first.ltpc, q)
        if q.bid or q.ask:
            d = first.firstDepth
            d.bidP, d.bidQ, d.askP, d.askQ = q.bid, q.bid_qty, q.ask, q.ask_qty
        first.vtt, first.oi = q.volume, q.oi
    elif q.index:
        _fill_ltpc(feed.fullFeed.indexFF.ltpc, q)
    else:
        market = feed.fullFeed.marketFF
        _fill_ltpc(market.ltpc, q)
        if q.bid or q.ask:
            level = market.marketLevel.bidAskQuote.add()
            level.bidP, level.bidQ, level.askP, level.askQ = q.bid, q.bid_qty, q.ask, q.ask_qty
        market.vtt, market.oi = q.volume, q.oi


def feed_response(quotes, mode_of=lambda key: MODE_FULL, kind: int = TYPE_LIVE_FEED,
                  current_ts_ms: int = 0) -> bytes:
    """A FeedResponse of `kind` (decode.TYPE_*) with one feed per quote, each in `mode_of(key)`."""
    msg = pb.FeedResponse(type=kind, currentTs=current_ts_ms)
    for q in quotes:
        _fill_feed(msg.feeds[q.key], q, mode_of(q.key))
    return msg.SerializeToString()


def market_info_message(statuses: dict[str, str], current_ts_ms: int = 0) -> bytes:
    """A market_info FeedResponse: segment -> MarketStatus name (e.g. {"NSE_EQ": "NORMAL_OPEN"})."""
    msg = pb.FeedResponse(type=TYPE_MARKET_INFO, currentTs=current_ts_ms)
    for segment, status in statuses.items():
        msg.marketInfo.segmentStatus[segment] = pb.MarketStatus.Value(status)
    return msg.SerializeToString()


def truncated_message() -> bytes:
    """A live feed cut short inside its map entry: no protobuf parser can read it."""
    whole = feed_response([UpstoxQuote("NSE_EQ|INE000000000", 100.0, ltt_ms=1)])
    return whole[:-3]
