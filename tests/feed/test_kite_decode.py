"""KiteTicker frame decoder and frame builder: fields, segments, drops, and the encode/decode round
trip."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.dtypes import FLAG_SNAPSHOT, INSTRUMENT_DTYPE, TICK_DTYPE
from feed.sources.base import SourceStats
from feed.sources.kite.decode import KiteDecoder, TokenIndex, decode_frame
from feed.sources.kite.frames import (HEARTBEAT, DepthLevel, KiteQuote, encode_frame, encode_packet,
                                      overlong_frame, truncated_frame)

NS = 1_000_000_000
INFY = 408065          # NSE (segment 1)
NIFTY = 256265         # indices (segment 9)
USDINR = 412675        # 412675 & 0xff == 3: CDS
BCD_TOKEN = (1234 << 8) | 6
NCO_TOKEN = (99 << 8) | 12
UNKNOWN = 779521
INDEX = TokenIndex.from_mapping({INFY: 0, NIFTY: 1, USDINR: 2, BCD_TOKEN: 3, NCO_TOKEN: 4})
RECV, WALL = 123_456, 1_700_000_000 * NS


def decode(frame, out_rows=16, stats=None):
    out = np.zeros(out_rows, TICK_DTYPE)
    stats = stats if stats is not None else SourceStats()
    n = decode_frame(frame, INDEX, out, RECV, WALL, stats)
    return out[:n], stats


def full_quote(token=INFY, price=1573.7, bid=1573.4, ask=1573.7):
    """A full quote whose every price is near `price`, so it fits any segment's uint32."""
    return KiteQuote(
        token,
        price,
        last_qty=7,
        average_price=price,
        volume=1192471,
        buy_qty=256443,
        sell_qty=363009,
        open=price,
        high=price,
        low=price,
        close=price,
        last_trade_time=1625461887,
        oi=12,
        oi_day_high=15,
        oi_day_low=3,
        exchange_ts=1625461887,
        bids=(DepthLevel(bid, 5, 1), DepthLevel(bid, 140, 2)),
        asks=(DepthLevel(ask, 172, 3),),
    )


def test_decode_full_packet_takes_best_bid_ask_oi_and_exchange_time():
    rows, stats = decode(encode_frame([encode_packet(full_quote(), "full")]))
    (r,) = rows
    assert (r["instrument"], r["price"], r["qty"], r["volume"], r["oi"]) == (
        0,
        1573.7,
        7,
        1192471,
        12,
    )
    assert (r["bid"], r["ask"]) == (1573.4, 1573.7)
    assert r["ts_event_ns"] == 1625461887 * NS and r["ts_recv_ns"] == RECV
    assert r["seq"] == 0 and r["flags"] == 0
    assert stats.dropped_malformed == stats.dropped_unknown == 0


def test_decode_quote_and_ltp_packets_carry_no_depth_and_use_wall_clock_receipt_as_event_time():
    q = full_quote()
    rows, _ = decode(encode_frame([encode_packet(q, "quote"), encode_packet(q, "ltp")]))
    quote, ltp = rows
    assert (quote["price"], quote["qty"], quote["volume"], quote["oi"]) == (1573.7, 7, 1192471, 0)
    assert (quote["bid"], quote["ask"], quote["ts_event_ns"]) == (0.0, 0.0, WALL)
    assert (ltp["price"], ltp["qty"], ltp["volume"], ltp["ts_event_ns"]) == (1573.7, 0, 0, WALL)


def test_decode_index_quote_and_full_packets():
    q = KiteQuote(
        NIFTY,
        17342.25,
        open=17300.0,
        high=17400.5,
        low=17250.0,
        close=17290.1,
        exchange_ts=1625461887,
    )
    quote_pkt, full_pkt = encode_packet(q, "quote"), encode_packet(q, "full")
    assert (len(quote_pkt), len(full_pkt)) == (28, 32)
    rows, _ = decode(encode_frame([quote_pkt, full_pkt]))
    assert rows["instrument"].tolist() == [1, 1]
    assert rows["price"].tolist() == [17342.25, 17342.25]
    assert rows["ts_event_ns"].tolist() == [WALL, 1625461887 * NS]


@pytest.mark.parametrize(
    "token, price",
    [
        (INFY, 1412.95),
        (USDINR, 83.1234567),
        (BCD_TOKEN, 83.1234),
        (NCO_TOKEN, 7012.5),
        (NIFTY, 24000.05),
    ],
)
def test_decode_divides_prices_by_the_token_segment(token, price):
    rows, _ = decode(encode_frame([encode_packet(full_quote(token, price, price, price), "full")]))
    depth = 0.0 if token == NIFTY else price   # index packets carry no depth
    assert (rows["price"][0], rows["bid"][0], rows["ask"][0]) == (price, depth, depth)


def test_decode_heartbeat_counts_and_yields_no_rows():
    rows, stats = decode(HEARTBEAT)
    assert len(rows) == 0 and stats.extra["heartbeats"] == 1 and stats.dropped_malformed == 0


def test_decode_empty_frame_is_valid_and_empty_message_is_malformed():
    assert len(decode(encode_frame([]))[0]) == 0
    rows, stats = decode(b"")
    assert len(rows) == 0 and stats.dropped_malformed == 1


@pytest.mark.parametrize(
    "damage",
    [truncated_frame, overlong_frame, lambda f: f + b"\x00", lambda f: f[:3]],
    ids=["truncated", "overlong", "trailing", "cut-length"],
)
def test_decode_frame_whose_lengths_do_not_add_up_is_dropped_whole(damage):
    frame = encode_frame([encode_packet(full_quote(), "ltp"), encode_packet(full_quote(), "full")])
    rows, stats = decode(damage(frame))
    assert len(rows) == 0 and stats.dropped_malformed == 1


def test_decode_unknown_token_is_counted_and_the_rest_of_the_frame_kept():
    frame = encode_frame(
        [encode_packet(full_quote(UNKNOWN), "full"), encode_packet(full_quote(), "ltp")]
    )
    rows, stats = decode(frame)
    assert rows["instrument"].tolist() == [0] and stats.dropped_unknown == 1


def test_decode_packet_of_unknown_length_or_zero_price_is_dropped_alone():
    frame = encode_frame([bytes(12), encode_packet(KiteQuote(INFY, 0.0), "quote"),
                          encode_packet(full_quote(), "ltp")])
    rows, stats = decode(frame)
    assert len(rows) == 1 and stats.dropped_malformed == 2


def test_decode_rows_beyond_out_are_counted_as_overflow():
    frame = encode_frame([encode_packet(full_quote(), "ltp")] * 5)
    rows, stats = decode(frame, out_rows=3)
    assert len(rows) == 3 and stats.extra["dropped_overflow"] == 2


def test_decoder_marks_first_tick_after_subscription_as_snapshot_once():
    decoder = KiteDecoder(INDEX)
    decoder.mark_snapshot([INFY, UNKNOWN])
    out = np.zeros(4, TICK_DTYPE)
    frame = encode_frame(
        [encode_packet(full_quote(), "ltp"), encode_packet(full_quote(NIFTY, 1.0), "ltp")]
    )
    n = decoder.decode(frame + b"", out, RECV, WALL)
    assert out["flags"][:n].tolist() == [FLAG_SNAPSHOT, 0]
    decoder.decode(frame, out, RECV, WALL)
    assert out["flags"][:2].tolist() == [0, 0]


@pytest.mark.parametrize("mode", ["ltp", "quote", "full"])
def test_frames_round_trip_through_the_decoder(mode):
    quotes = [
        full_quote(INFY, 1500.05),
        full_quote(USDINR, 82.9975, 82.99, 83.0),
        full_quote(NIFTY, 22000.4),
    ]
    rows, _ = decode(encode_frame([encode_packet(q, mode) for q in quotes]))
    assert rows["price"].tolist() == [1500.05, 82.9975, 22000.4]
    tradable = mode != "ltp"
    assert rows["volume"].tolist() == [1192471 if tradable else 0] * 2 + [0]
    if mode == "full":
        assert rows["bid"].tolist()[:2] == [1573.4, 82.99] and rows["oi"].tolist() == [12, 12, 0]


def test_frames_builder_refuses_prices_that_do_not_fit_the_wire():
    with pytest.raises(ValueError):
        encode_packet(KiteQuote(USDINR, 500.0), "ltp")   # 500 * 1e7 > uint32
    with pytest.raises(ValueError):
        encode_packet(KiteQuote(INFY, 1.0), "snap")


def test_token_index_from_rows_skips_non_kite_rows_and_rejects_duplicates():
    rows = np.zeros(4, INSTRUMENT_DTYPE)
    rows["token"] = [NIFTY, 0, INFY, USDINR]
    index = TokenIndex.from_rows(rows)
    assert index.tokens.tolist() == [NIFTY, INFY, USDINR] and index.instruments.tolist() == [
        0,
        2,
        3,
    ]
    rows["token"][1] = INFY
    with pytest.raises(ValueError):
        TokenIndex.from_rows(rows)


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already the interpreted run"
)
def test_decoder_tests_pass_with_numba_jit_disabled():
    here = Path(__file__)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here)],
        cwd=here.parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
