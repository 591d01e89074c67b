"""Write a replay file of synthetic ticks: `python -m feed.generate OUT --ticks N [--instruments
K]`.

The ticks are exactly what the `sim` source would produce for that seed and universe (same kernel),
so tests and benchmarks can replay a fixed, realistic session from a file.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from common.dtypes import TICK_DTYPE
from config.schema import STRESS_TICK_RATE_HZ
from feed.replayfile import write_ticks
from feed.sources.base import EndOfFeed
from feed.sources.sim import SimSource


class _Universe:
    """Just enough of an InstrumentTable for SimSource.open."""

    def __init__(self, instruments):
        self.rows = np.zeros(len(instruments), dtype=[("tick_size", np.float64)])
        self.rows["tick_size"] = [i.tick_size for i in instruments]


def generate(instruments, sim_cfg, n_ticks: int):
    """Columns (ts_event_ns, symbols, price, qty, volume, bid, ask) of the first n_ticks sim
    ticks."""
    import msgspec

    stress = sim_cfg.profile == "stress"
    # Unpaced: stress by tick_rate_hz 0 (its event times are re-spaced below), realistic by speed 0
    # (its event times are the generated arrivals, kept as they are).
    unpaced = {"tick_rate_hz": 0.0} if stress else {"speed": 0.0}
    cfg = msgspec.structs.replace(sim_cfg, max_ticks=n_ticks, **unpaced)
    src = SimSource(cfg, [i.ref_price for i in instruments])
    src.open(_Universe(instruments))
    out = np.zeros(n_ticks, dtype=TICK_DTYPE)
    done = 0
    try:
        while done < n_ticks:
            done += src.read(out[done:], timeout_s=1.0)
    except EndOfFeed:
        pass
    out = out[:done]
    ts = out["ts_event_ns"]
    # event times at the configured rate (tick_rate_hz, default 2000/s over all)
    if stress and done:
        step = int(1e9 / (sim_cfg.tick_rate_hz or STRESS_TICK_RATE_HZ))
        ts = out["ts_event_ns"][0] + np.arange(done, dtype=np.int64) * step
    symbols = np.array([i.symbol for i in instruments], dtype=object)[out["instrument"]]
    return ts, symbols, out["price"], out["qty"], out["volume"], out["bid"], out["ask"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m feed.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", help="replay file to write (.csv or .parquet)")
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument(
        "--instruments", type=int, default=0, help="first K instruments of the config (0 = all)"
    )
    parser.add_argument("--config", help="configuration whose universe and sim settings to use")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--session-date", default="2026-01-05")
    args = parser.parse_args(argv)
    from config.loader import load_config
    import msgspec

    cfg = load_config(args.config).config
    instruments = cfg.instruments[: args.instruments or None]
    sim = msgspec.structs.replace(cfg.feed.sim, session_date=args.session_date,
                                  seed=cfg.feed.sim.seed if args.seed is None else args.seed)
    ts, symbols, price, qty, volume, bid, ask = generate(instruments, sim, args.ticks)
    write_ticks(args.out, ts, symbols, price, qty, volume, bid, ask)
    print(
        f"wrote {len(price)} ticks over {len(instruments)} instruments to {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
