"""The sim source: deterministic from its seed, resumable at any tick, prices on the tick grid."""

import hashlib

import msgspec
import numpy as np

from common.dtypes import TICK_DTYPE
from config.schema import SimFeedConfig
from feed.sources.sim import SimSource


class _Table:
    def __init__(self, ticks):
        self.rows = np.zeros(len(ticks), dtype=[("tick_size", np.float64)])
        self.rows["tick_size"] = ticks


def _ticks(n, start_after=0, read=333):
    cfg = msgspec.structs.replace(
        SimFeedConfig(), profile="stress", tick_rate_hz=0.0, seed=3, session_date="2026-01-05"
    )
    src = SimSource(cfg, [150.0, 820.0, 2900.0])
    src.open(_Table([0.01, 0.05, 0.10]), start_after=start_after)
    out = np.zeros(n, dtype=TICK_DTYPE)
    done = 0
    while done < n:
        done += src.read(out[done:done + read], timeout_s=0.1)
    return out


def test_the_same_seed_gives_the_same_ticks_however_reads_are_sized():
    a, b = _ticks(10_000, read=333), _ticks(10_000, read=4096)
    for field in ("instrument", "price", "qty", "volume", "ts_event_ns"):
        assert np.array_equal(a[field], b[field])


def test_a_restart_continues_with_the_next_tick():
    whole = _ticks(9_000)
    resumed = _ticks(4_000, start_after=5_000)
    assert np.array_equal(resumed["price"], whole["price"][5_000:])
    assert np.array_equal(resumed["ts_event_ns"], whole["ts_event_ns"][5_000:])


def test_prices_sit_on_each_instruments_tick_grid_and_move_both_ways():
    t = _ticks(20_000)
    sizes = np.array([0.01, 0.05, 0.10])[t["instrument"]]
    steps = t["price"] / sizes
    assert np.allclose(steps, np.round(steps), atol=1e-6)
    for k, size in enumerate((0.01, 0.05, 0.10)):
        moves = np.diff(t["price"][t["instrument"] == k])
        assert (moves > 0).sum() > 100 and (moves < 0).sum() > 100
        assert np.ptp(t["price"][t["instrument"] == k]) > 20 * size


# sha256 over the fields below of the first 10,000 ticks of seed 3, 2,000 ticks/s, 2026-01-05 09:15,
# three instruments (150/0.01, 820/0.05, 2900/0.10), read 333 at a time with pacing off. Produced
# with the sim source of commit b0bb225 (before profiles existed: `git show
# b0bb225:feed/sources/sim.py`, its defaults tick_rate_hz 2000, volatility_bps_per_tick 1.0,
# regime_ticks 5000), i.e. today's "stress".
ORIGINAL_STREAM_SHA256 = "fd01f4975d81deeff75020f299f8f02a496a8f3681c02e8609749c9e1fec2baa"


def test_stress_profile_when_read_then_it_reproduces_the_original_2000_per_second_stream_bit_for_bit():  # noqa: E501 - the name is the test's sentence
    cfg = SimFeedConfig(profile="stress", seed=3, session_date="2026-01-05")
    src = SimSource(cfg, [150.0, 820.0, 2900.0])
    src.open(_Table([0.01, 0.05, 0.10]))
    src.pace(False)
    out = np.zeros(10_000, dtype=TICK_DTYPE)
    done = 0
    while done < len(out):
        done += src.read(out[done:done + 333], timeout_s=0.1)
    digest = hashlib.sha256()
    for field in ("instrument", "price", "bid", "ask", "qty", "volume", "flags", "ts_event_ns"):
        digest.update(np.ascontiguousarray(out[field]).tobytes())
    assert digest.hexdigest() == ORIGINAL_STREAM_SHA256
    # 2,000 ticks/s over all instruments
    assert out["ts_event_ns"][1] - out["ts_event_ns"][0] == 500_000
