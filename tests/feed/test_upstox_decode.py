"""The Upstox V3 decoder, fed FeedResponse messages built directly with the SDK's compiled protobuf
module.

The messages here are built field by field with `MarketDataFeedV3_pb2`, not with OTrade's encoder,
so a mistake shared by encode.py and decode.py cannot hide; the last tests check the encoder
round-trips.
"""

import math

import numpy as np
import pytest
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from common.dtypes import FLAG_SNAPSHOT, INSTRUMENT_DTYPE, TICK_DTYPE
from feed.sources.base import SourceStats
from feed.sources.upstox.decode import UpstoxDecoder, decode_message, key_index
from feed.sources.upstox.encode import (
    UpstoxQuote,
    feed_response,
    market_info_message,
    truncated_message,
)
from feed.sources.upstox.protocol import MODE_FULL, MODE_LTPC, MODE_OPTION_GREEKS

RELIANCE, INFY, NIFTY, OPTION = (
    "NSE_EQ|INE002A01018",
    "NSE_EQ|INE009A01021",
    "NSE_INDEX|Nifty 50",
    "NSE_FO|43919",
)
INDEX = {RELIANCE: 0, INFY: 1, NIFTY: 2, OPTION: 3}
LTT_MS = 1_735_700_000_123          # 2025-01-01 02:53:20.123 UTC
CURRENT_MS = 1_735_700_000_500
WALL_NS, RECV_NS = 1_735_700_001_000_000_000, 42


def message(kind=pb.live_feed, current_ms=CURRENT_MS):
    return pb.FeedResponse(type=kind, currentTs=current_ms)


def decode(msg, out_rows=8):
    out = np.zeros(out_rows, TICK_DTYPE)
    stats = SourceStats()
    payload = msg if isinstance(msg, bytes) else msg.SerializeToString()
    n = decode_message(payload, INDEX, out, RECV_NS, WALL_NS, stats)
    return out[:n], stats


def by_instrument(rows):
    return {int(r["instrument"]): r for r in rows}


def test_ltpc_feed_decodes_price_quantity_and_exchange_time_in_ns():
    msg = message()
    ltpc = msg.feeds[RELIANCE].ltpc
    ltpc.ltp, ltpc.ltt, ltpc.ltq, ltpc.cp = 1480.35, LTT_MS, 25, 1470.0
    rows, stats = decode(msg)
    assert len(rows) == 1 and stats.dropped_malformed == 0
    row = rows[0]
    assert row["price"] == 1480.35 and row["qty"] == 25 and row["instrument"] == 0
    assert row["ts_event_ns"] == LTT_MS * 1_000_000 and row["ts_recv_ns"] == RECV_NS
    assert (
        row["bid"] == 0
        and row["ask"] == 0
        and row["volume"] == 0
        and row["flags"] == 0
        and row["seq"] == 0
    )


def test_full_market_feed_decodes_best_bid_ask_volume_and_oi():
    msg = message()
    market = msg.feeds[OPTION].fullFeed.marketFF
    market.ltpc.ltp, market.ltpc.ltt, market.ltpc.ltq = 212.5, LTT_MS, 75
    for i in range(5):   # five levels; the first is the best
        q = market.marketLevel.bidAskQuote.add()
        q.bidP, q.bidQ, q.askP, q.askQ = 212.45 - i * 0.05, 150, 212.55 + i * 0.05, 225
    market.vtt, market.oi, market.atp = 9_876_543, 1_234_500.0, 210.1
    market.marketOHLC.ohlc.add(
        interval="1d", open=200, high=215, low=199, close=212.5, vol=9_876_543
    )
    row = decode(msg)[0][0]
    assert (row["price"], row["bid"], row["ask"]) == (212.5, 212.45, 212.55)
    assert (row["volume"], row["oi"], row["qty"], row["instrument"]) == (
        9_876_543,
        1_234_500,
        75,
        3,
    )
    assert row["ts_event_ns"] == LTT_MS * 1_000_000


def test_full_index_feed_has_a_price_and_no_depth_volume_or_oi():
    msg = message()
    ltpc = msg.feeds[NIFTY].fullFeed.indexFF.ltpc
    ltpc.ltp, ltpc.ltt = 24_012.35, LTT_MS
    row = decode(msg)[0][0]
    assert row["price"] == 24_012.35 and row["instrument"] == 2
    assert (row["bid"], row["ask"], row["volume"], row["oi"]) == (0, 0, 0, 0)


def test_option_greeks_feed_decodes_its_first_depth_level():
    msg = message()
    first = msg.feeds[OPTION].firstLevelWithGreeks
    first.ltpc.ltp, first.ltpc.ltt = 88.0, LTT_MS
    first.firstDepth.bidP, first.firstDepth.askP = 87.95, 88.05
    first.vtt, first.oi, first.optionGreeks.delta = 1000, 500.0, 0.45
    row = decode(msg)[0][0]
    assert (row["price"], row["bid"], row["ask"], row["volume"], row["oi"]) == (
        88.0,
        87.95,
        88.05,
        1000,
        500,
    )


def test_initial_feed_rows_are_marked_as_snapshots_and_live_rows_are_not():
    for kind, flags in ((pb.initial_feed, FLAG_SNAPSHOT), (pb.live_feed, 0)):
        msg = message(kind)
        msg.feeds[RELIANCE].ltpc.ltp = 1480.0
        msg.feeds[INFY].ltpc.ltp = 1520.0
        rows, _ = decode(msg)
        assert sorted(rows["instrument"].tolist()) == [0, 1] and set(rows["flags"].tolist()) == {
            flags
        }


def test_a_feed_without_a_trade_time_takes_the_message_time_then_the_wall_clock():
    msg = message()
    msg.feeds[RELIANCE].ltpc.ltp = 1480.0
    assert decode(msg)[0][0]["ts_event_ns"] == CURRENT_MS * 1_000_000
    msg.currentTs = 0
    assert decode(msg)[0][0]["ts_event_ns"] == WALL_NS
    msg.feeds[RELIANCE].ltpc.ltt = 2**62    # ms beyond int64 ns: not a time
    assert decode(msg)[0][0]["ts_event_ns"] == WALL_NS


def test_market_info_is_kept_as_segment_statuses_and_yields_no_rows():
    msg = message(pb.market_info)
    msg.marketInfo.segmentStatus["NSE_EQ"] = pb.NORMAL_OPEN
    msg.marketInfo.segmentStatus["NSE_FO"] = pb.PRE_OPEN_START
    decoder = UpstoxDecoder(INDEX)
    assert decoder.decode(msg.SerializeToString(), np.zeros(4, TICK_DTYPE), RECV_NS, WALL_NS) == 0
    assert decoder.market_status == {"NSE_EQ": "NORMAL_OPEN", "NSE_FO": "PRE_OPEN_START"}
    assert decoder.stats.extra["market_info"] == 1 and decoder.stats.dropped_malformed == 0


def test_unknown_instrument_keys_are_counted_and_dropped():
    msg = message()
    msg.feeds["NSE_EQ|INE000UNKNOWN"].ltpc.ltp = 10.0
    msg.feeds[RELIANCE].ltpc.ltp = 1480.0
    rows, stats = decode(msg)
    assert rows["instrument"].tolist() == [0] and stats.dropped_unknown == 1


@pytest.mark.parametrize("payload", [truncated_message(), b"", b"\xff\xff\xff\xff", b"\x12\x05abc"])
def test_undecodable_messages_are_counted_and_dropped(payload):
    rows, stats = decode(payload)
    assert len(rows) == 0 and stats.dropped_malformed == 1


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_a_feed_with_a_bad_price_is_dropped_alone(price):
    msg = message()
    msg.feeds[RELIANCE].ltpc.ltp = price
    msg.feeds[INFY].ltpc.ltp = 1520.0
    msg.feeds[NIFTY].SetInParent()           # a feed with nothing in it
    rows, stats = decode(msg)
    assert rows["instrument"].tolist() == [1] and stats.dropped_malformed == 2


def test_counters_beyond_uint32_saturate_and_bad_depth_prices_become_zero():
    msg = message()
    market = msg.feeds[RELIANCE].fullFeed.marketFF
    market.ltpc.ltp, market.ltpc.ltq = 1480.0, -5
    market.vtt, market.oi = 2**40, math.nan
    q = market.marketLevel.bidAskQuote.add()
    q.bidP, q.askP = -1.0, math.inf
    rows, stats = decode(msg)
    row = rows[0]
    assert (row["volume"], row["oi"], row["qty"], row["bid"], row["ask"]) == (
        0xFFFFFFFF,
        0,
        0,
        0,
        0,
    )
    assert stats.extra["clamped"] == 5


def test_rows_beyond_the_output_array_are_counted_not_written_past_it():
    msg = message()
    for key in (RELIANCE, INFY, NIFTY):
        msg.feeds[key].ltpc.ltp = 100.0
    rows, stats = decode(msg, out_rows=2)
    assert len(rows) == 2 and stats.extra["dropped_overflow"] == 1


def test_encoder_round_trips_every_mode_through_the_decoder():
    quotes = [
        UpstoxQuote(RELIANCE, 1480.35, LTT_MS, 5, 1470.0, 1480.3, 1480.4, 10, 20, 123_456, 0.0),
        UpstoxQuote(NIFTY, 24_012.35, LTT_MS, index=True),
        UpstoxQuote(OPTION, 88.0, LTT_MS, 75, bid=87.95, ask=88.05, volume=1000, oi=500.0),
    ]
    modes = {RELIANCE: MODE_FULL, NIFTY: MODE_FULL, OPTION: MODE_OPTION_GREEKS}
    rows = by_instrument(
        decode(feed_response(quotes, modes.__getitem__, current_ts_ms=CURRENT_MS))[0]
    )
    assert (
        rows[0]["price"],
        rows[0]["bid"],
        rows[0]["ask"],
        rows[0]["volume"],
        rows[0]["qty"],
    ) == (1480.35, 1480.3, 1480.4, 123_456, 5)
    assert rows[2]["price"] == 24_012.35 and rows[2]["bid"] == 0
    assert (rows[3]["bid"], rows[3]["ask"], rows[3]["oi"]) == (87.95, 88.05, 500)
    ltpc_only = decode(feed_response(quotes[:1], lambda key: MODE_LTPC))[0][0]
    assert ltpc_only["price"] == 1480.35 and ltpc_only["bid"] == 0 and ltpc_only["volume"] == 0


def test_encoded_messages_parse_with_the_sdk_module_to_the_same_values():
    payload = feed_response(
        [UpstoxQuote(RELIANCE, 1480.35, LTT_MS, 5, 1470.0, 1480.3, 1480.4, volume=7)]
    )
    feed = pb.FeedResponse.FromString(payload).feeds[RELIANCE]
    assert feed.requestMode == pb.full_d5
    market = feed.fullFeed.marketFF
    assert (market.ltpc.ltp, market.ltpc.ltt, market.ltpc.cp, market.vtt) == (
        1480.35,
        LTT_MS,
        1470.0,
        7,
    )
    assert market.marketLevel.bidAskQuote[0].bidP == 1480.3
    info = pb.FeedResponse.FromString(market_info_message({"NSE_EQ": "NORMAL_CLOSE"}))
    assert (
        info.type == pb.market_info and info.marketInfo.segmentStatus["NSE_EQ"] == pb.NORMAL_CLOSE
    )


def test_key_index_maps_broker_keys_to_rows_and_refuses_duplicates():
    rows = np.zeros(3, INSTRUMENT_DTYPE)
    rows["broker_key"] = [RELIANCE.encode(), b"", INFY.encode()]
    assert key_index(rows) == {RELIANCE: 0, INFY: 2}
    rows["broker_key"][1] = RELIANCE.encode()
    with pytest.raises(ValueError, match="twice"):
        key_index(rows)
