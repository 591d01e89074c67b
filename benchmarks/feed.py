"""Kite feed benchmark: KiteTicker frame decode, OTrade's numba decoder against pykiteconnect's
parser.

Both decode the same frames (full packets with depth, and quote packets; 50 and 200 packets a frame,
tokens drawn from 3,000 instruments across segments) in the same run, so the ratio holds however
busy the machine is. OTrade's time is `KiteDecoder.decode` as the source calls it (bytes in,
TICK_DTYPE rows out, counts updated); KiteTicker's is `_parse_binary` (bytes in, a list of tick
dicts out). Each frame is timed alone with perf_counter_ns, giving per-frame percentiles; throughput
is ticks / summed time.
"""

import argparse
import sys
import time

import numpy as np
import orjson
from kiteconnect import KiteTicker

from benchmarks.stats import format_latency, ratio, summarize
from common.dtypes import TICK_DTYPE
from feed.sources.kite.decode import KiteDecoder, TokenIndex, segment_divisor
from feed.sources.kite.frames import DepthLevel, KiteQuote, encode_frame, encode_packet

INSTRUMENTS = 3000
SEGMENTS = (1, 1, 1, 2, 2, 3, 4, 5, 9)     # mostly NSE and NFO, as a real subscription is
CASES = (("full", 50), ("full", 200), ("quote", 50), ("quote", 200))
SIZES = {True: (200, 40), False: (3000, 400)}   # frames per case: (OTrade, KiteTicker), by --quick
WARMUP_FRAMES = 20


def make_tokens(rng) -> list[int]:
    tokens: set[int] = set()
    while len(tokens) < INSTRUMENTS:
        tokens.add(int(rng.integers(1, 1 << 22)) << 8 | int(rng.choice(SEGMENTS)))
    return sorted(tokens)


def make_quote(rng, token: int) -> KiteQuote:
    unit = 1.0 / segment_divisor(token)
    price = round(int(rng.integers(1_000, 200_000)) * unit * (100 if unit < 0.01 else 1), 7)

    def levels(sign):
        return tuple(DepthLevel(round(price + sign * k * unit, 7), int(rng.integers(1, 5000)),
                                int(rng.integers(1, 40))) for k in range(1, 6))

    return KiteQuote(
        token,
        price,
        last_qty=int(rng.integers(1, 500)),
        average_price=price,
        volume=int(rng.integers(0, 1 << 31)),
        buy_qty=1000,
        sell_qty=1000,
        open=price,
        high=price,
        low=price,
        close=price,
        last_trade_time=1_750_000_000,
        oi=int(rng.integers(0, 1 << 24)),
        exchange_ts=1_750_000_000 + int(rng.integers(0, 20_000)),
        bids=levels(-1),
        asks=levels(1),
    )


def make_frames(rng, tokens, mode: str, packets: int, count: int) -> list[bytes]:
    # A few hundred distinct frames, cycled: building tens of thousands with struct would dominate.
    distinct = [encode_frame(encode_packet(make_quote(rng, int(t)), mode)
                             for t in rng.choice(tokens, size=packets, replace=False))
                for _ in range(min(count, 200))]
    return [distinct[i % len(distinct)] for i in range(count)]


def time_frames(decode_one, frames) -> np.ndarray:
    for frame in frames[:WARMUP_FRAMES]:
        decode_one(frame)
    samples = np.empty(len(frames), dtype=np.int64)
    clock = time.perf_counter_ns
    for i, frame in enumerate(frames):
        start = clock()
        decode_one(frame)
        samples[i] = clock() - start
    return samples


def measure_case(rng, tokens, decoder, mode: str, packets: int, quick: bool) -> dict:
    n_ours, n_sdk = SIZES[quick]
    frames = make_frames(rng, tokens, mode, packets, n_ours)
    out = np.zeros(packets, dtype=TICK_DTYPE)
    sdk = KiteTicker("bench-key", "bench-token")   # constructing it does not connect
    wall = time.time_ns()
    ours = time_frames(lambda f: decoder.decode(f, out, 0, wall), frames)
    theirs = time_frames(sdk._parse_binary, frames[:n_sdk])
    assert decoder.decode(frames[0], out, 0, wall) == packets, "every packet must decode"
    ours_tps = packets * len(ours) / (ours.sum() / 1e9)
    sdk_tps = packets * len(theirs) / (theirs.sum() / 1e9)
    label = f"{mode} x{packets}"
    print(format_latency(f"{label:<10} OTrade  per frame", summarize(ours)))
    print(format_latency(f"{label:<10} Kite SDK per frame", summarize(theirs)))
    print(f"{label:<10} ticks/s: OTrade {ours_tps:,.0f}  Kite SDK {sdk_tps:,.0f}  "
          f"ratio {ratio(ours_tps, sdk_tps):,.1f}x")
    return {"otrade": {"ticks_per_s": int(ours_tps), "frame": summarize(ours)},
            "kiteticker": {"ticks_per_s": int(sdk_tps), "frame": summarize(theirs)},
            "speedup": ratio(ours_tps, sdk_tps)}


def run(quick: bool = False) -> dict:
    rng = np.random.default_rng(2024)
    tokens = make_tokens(rng)
    decoder = KiteDecoder(TokenIndex.from_mapping({t: i for i, t in enumerate(tokens)}))
    decoder.warm()
    return {f"{mode}_{packets}": measure_case(rng, tokens, decoder, mode, packets, quick)
            for mode, packets in CASES}


def main(argv=None) -> int:
    """Stand-alone entry (`python -m benchmarks.feed`); `python -m benchmarks feed` does the
    same."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.feed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer frames: finishes in under 20 s")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    args = parser.parse_args(argv)
    results = run(quick=args.quick)
    if args.json:
        with open(args.json, "wb") as f:
            f.write(orjson.dumps({"benchmark": "feed", "quick": args.quick, "results": results},
                                 option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def table_rows(result: dict) -> list[dict]:
    """The suite table's rows: OTrade's decode per frame, and its rate against KiteTicker's
    parser."""
    from benchmarks import table

    rows = []
    for case, r in result.items():
        label = case.replace("_", " x")
        rows.append(
            table.latency_row("feed", f"Kite decode per frame, {label}", r["otrade"]["frame"])
        )
        rows.append(
            table.row(
                "feed",
                f"Kite decode rate, {label}",
                r["otrade"]["ticks_per_s"],
                "ticks/s",
                f"{table.format_number(r['speedup'])}x KiteTicker "
                f"({r['kiteticker']['ticks_per_s']:,}/s)",
            )
        )
    return rows
