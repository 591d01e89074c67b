"""OTrade's decoder against pykiteconnect's own parser (`KiteTicker._parse_binary`) on the same
frames.

What TICK_DTYPE holds must be exactly what KiteTicker decodes: last price, last traded quantity,
volume, OI, best bid/ask from depth level 1, and the exchange timestamp. OHLC, average price and
buy/sell totals are not stored by OTrade, so they are not compared.
"""

import json
import struct
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from kiteconnect import KiteTicker

from common.clock import IST
from common.dtypes import TICK_DTYPE
from feed.sources.base import SourceStats
from feed.sources.kite.decode import TokenIndex, decode_frame
from feed.sources.kite.frames import DepthLevel, KiteQuote, encode_frame, encode_packet

NS = 1_000_000_000
WALL = 1_750_000_000 * NS
SEGMENTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12)   # nse nfo cds bse bfo bcd mcx mcxsx indices nco
LENGTHS = (8, 28, 32, 44, 184)
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_KITE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kite"
EPOCH_LOCAL = datetime.fromtimestamp(0)


def sdk_parse(frame: bytes) -> list[dict]:
    # constructing does not connect
    return KiteTicker("api_key", "access_token")._parse_binary(frame)


def random_tokens(rng, n):
    return sorted(
        {int(rng.integers(1, 1 << 24)) << 8 | int(rng.choice(SEGMENTS)) for _ in range(n)}
    )


def random_packet(rng, token: int) -> bytes:
    """A packet of a random kind: the token, then random bytes for every other field."""
    length = int(rng.choice(LENGTHS))
    body = bytearray(rng.bytes(length - 4))
    if rng.random() < 0.05:
        body[0:4] = bytes(4)   # a zero last price now and then
    return struct.pack(">I", token) + bytes(body)


def decode_both(frame: bytes, index: TokenIndex):
    out = np.zeros(512, TICK_DTYPE)
    stats = SourceStats()
    n = decode_frame(frame, index, out, 7, WALL, stats)
    return out[:n], stats, sdk_parse(frame)


def assert_row_matches_sdk(row, tick: dict, instrument: int):
    assert row["instrument"] == instrument
    assert row["price"] == tick["last_price"]
    assert row["qty"] == tick.get("last_traded_quantity", 0)
    assert row["volume"] == tick.get("volume_traded", 0)
    assert row["oi"] == tick.get("oi", 0)
    depth = tick.get("depth")
    assert row["bid"] == (depth["buy"][0]["price"] if depth else 0.0)
    assert row["ask"] == (depth["sell"][0]["price"] if depth else 0.0)
    ts = tick.get("exchange_timestamp")
    if ts is None or ts == EPOCH_LOCAL:       # no (or a zero) exchange time: receipt wall clock
        assert row["ts_event_ns"] == WALL
    else:                                     # both render the same epoch second in local time
        assert row["ts_event_ns"] % NS == 0
        assert datetime.fromtimestamp(int(row["ts_event_ns"]) // NS) == ts
    assert row["ts_recv_ns"] == 7


def assert_matches_sdk(frame: bytes, index: TokenIndex):
    rows, stats, ticks = decode_both(frame, index)
    known = dict(zip(index.tokens.tolist(), index.instruments.tolist()))
    kept = [t for t in ticks if t["instrument_token"] in known and t["last_price"] > 0]
    assert len(rows) == len(kept)
    for row, tick in zip(rows, kept):
        assert_row_matches_sdk(row, tick, known[tick["instrument_token"]])
    assert stats.dropped_unknown == sum(t["instrument_token"] not in known for t in ticks)
    assert stats.dropped_malformed == sum(
        t["instrument_token"] in known and t["last_price"] == 0 for t in ticks
    )
    return len(rows)


def test_decoder_matches_kiteticker_on_random_frames_mixing_every_packet_kind():
    rng = np.random.default_rng(20240705)
    known = random_tokens(rng, 300)
    unknown = random_tokens(rng, 30)
    index = TokenIndex.from_mapping({t: i for i, t in enumerate(known)})
    pool = known + [t for t in unknown if t not in set(known)]
    decoded = 0
    for _ in range(400):
        tokens = rng.choice(pool, size=int(rng.integers(1, 60)))
        decoded += assert_matches_sdk(
            encode_frame(random_packet(rng, int(t)) for t in tokens), index
        )
    assert decoded > 5_000


def realistic_quote(rng, token: int) -> KiteQuote:
    unit = {3: 1e-7, 6: 1e-4, 12: 1e-4}.get(token & 0xFF, 0.01)
    ticks_of_price = int(rng.integers(1_000, 300_000 if unit == 0.01 else 400_000))
    price = round(ticks_of_price * unit * (250 if unit != 0.01 else 1), 7)

    def level(k):
        return DepthLevel(round(price + k * unit * 5, 7), int(rng.integers(1, 5000)),
                          int(rng.integers(1, 50)))

    return KiteQuote(
        token,
        price,
        last_qty=int(rng.integers(1, 2000)),
        average_price=price,
        volume=int(rng.integers(0, 1 << 32)),
        open=price,
        high=price,
        low=price,
        close=price,
        last_trade_time=1_700_000_000 + int(rng.integers(0, 1 << 20)),
        oi=int(rng.integers(0, 1 << 32)),
        exchange_ts=1_700_000_000 + int(rng.integers(0, 1 << 20)),
        bids=tuple(level(-k) for k in range(1, 6)),
        asks=tuple(level(k) for k in range(5)),
    )


def test_decoder_matches_kiteticker_on_frames_built_from_realistic_quotes_in_every_mode():
    rng = np.random.default_rng(7)
    tokens = random_tokens(rng, 200)
    index = TokenIndex.from_mapping({t: i for i, t in enumerate(tokens)})
    for _ in range(200):
        picked = rng.choice(tokens, size=int(rng.integers(1, 40)), replace=False)
        packets = [
            encode_packet(realistic_quote(rng, int(t)), str(rng.choice(["ltp", "quote", "full"])))
            for t in picked
        ]
        assert assert_matches_sdk(encode_frame(packets), index) == len(picked)


def quote_from_kite_json(q: dict) -> KiteQuote:
    """The REST quote of the mocks as the full packet that carries the same values."""

    def epoch(s):
        return int(datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST).timestamp())

    def side(levels):
        return tuple(DepthLevel(lv["price"], lv["quantity"], lv["orders"]) for lv in levels)

    ohlc = q["ohlc"]
    return KiteQuote(
        q["instrument_token"],
        q["last_price"],
        last_qty=q["last_quantity"],
        average_price=q["average_price"],
        volume=q["volume"],
        buy_qty=q["buy_quantity"],
        sell_qty=q["sell_quantity"],
        open=ohlc["open"],
        high=ohlc["high"],
        low=ohlc["low"],
        close=ohlc["close"],
        last_trade_time=epoch(q["last_trade_time"]),
        oi=q["oi"],
        oi_day_high=q["oi_day_high"],
        oi_day_low=q["oi_day_low"],
        exchange_ts=epoch(q["timestamp"]),
        bids=side(q["depth"]["buy"]),
        asks=side(q["depth"]["sell"]),
    )


def check_real_quote_sample(path: Path):
    q = json.loads(path.read_text())["data"]["NSE:INFY"]
    index = TokenIndex.from_mapping({q["instrument_token"]: 5})
    rows, _, ticks = decode_both(
        encode_frame([encode_packet(quote_from_kite_json(q), "full")]), index
    )
    assert_row_matches_sdk(rows[0], ticks[0], 5)
    r = rows[0]
    assert (r["price"], r["qty"], r["volume"], r["oi"]) == (1412.95, 5, 7360198, 0)
    assert (r["bid"], r["ask"]) == (0.0, 1412.95)      # the sample's bid side is empty
    # "2021-06-08 15:45:56" in the REST sample is IST: 10:15:56 UTC.
    assert (
        r["ts_event_ns"]
        == int(datetime(2021, 6, 8, 10, 15, 56, tzinfo=timezone.utc).timestamp()) * NS
    )


def test_real_kite_quote_sample_decodes_as_kiteticker_does():
    check_real_quote_sample(FIXTURES / "kite_quote.json")


@pytest.mark.skipif(
    not SHARED_KITE.is_dir(), reason="shared/fixtures/kite is not beside the repository"
)
def test_shared_kite_samples_decode_and_their_tokens_carry_their_segment():
    check_real_quote_sample(SHARED_KITE / "quote.json")
    segment_of = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "BFO": 5, "BCD": 6, "MCX": 7}
    lines = (SHARED_KITE / "instruments_all.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    assert rows
    # the divisor rule keys on token & 0xff: real tokens must agree with their exchange
    for row in rows:
        assert int(row["instrument_token"]) & 0xFF == segment_of[row["exchange"]], row[
            "tradingsymbol"
        ]
