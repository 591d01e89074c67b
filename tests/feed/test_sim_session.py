"""The sim's "realistic" profile (the default): a real pace per instrument, a realistic volatility,
a market clock at wall pace x speed from 09:15 of the session date, and the default strategy trading
a few times a minute on it (issue 16.1). Statistics are over one whole generated session, fixed
seed."""

import datetime as dt
import math

import msgspec
import numpy as np
import pytest

from common.clock import IST
from common.dtypes import TICK_DTYPE
from config.loader import ConfigError, load_config
from config.schema import SimFeedConfig
from feed.sources import sim as sim_module
from feed.sources.sim import SimSource
from feed.sources.sim_session import SESSION_S, sigma_tick
from signals.kernels.crossover import crossover_batch
from signals.kernels.ema import ema_batch

REFS, TICKS = [245.0, 985.0, 2900.0, 16000.0], [0.01, 0.05, 0.05, 1.0]
SESSION_DATE = "2026-01-05"
T0 = int(dt.datetime(2026, 1, 5, 9, 15, tzinfo=IST).timestamp()) * 10**9


class _Table:
    def __init__(self, ticks):
        self.rows = np.zeros(len(ticks), dtype=[("tick_size", np.float64)])
        self.rows["tick_size"] = ticks


def _source(refs=REFS, ticks=TICKS, start_after=0, **cfg):
    sim = SimFeedConfig(**{"seed": 5, "session_date": SESSION_DATE, "speed": 0.0, **cfg})
    src = SimSource(sim, refs)
    src.open(_Table(ticks), start_after=start_after)
    return src


def _read(src, n, read=4096):
    out = np.zeros(n, dtype=TICK_DTYPE)
    done = 0
    while done < n:
        done += src.read(out[done:done + read], timeout_s=0.1)
    return out


@pytest.fixture(scope="module")
def session():
    """One whole session (09:15-15:30 market time) of the four instruments, and its market
    seconds."""
    out = _read(_source(), 4 * 3 * 26_000)
    t = (out["ts_event_ns"] - T0) / 1e9
    assert t[-1] > SESSION_S, "generate past the close"
    keep = t <= SESSION_S
    return out[keep], t[keep]


def test_realistic_profile_when_a_session_runs_then_each_instrument_ticks_a_few_times_a_second_busier_at_open_and_close(  # noqa: E501 - the name is the test's sentence
    session,
):
    out, t = session
    for k in range(len(REFS)):
        mine = t[out["instrument"] == k]
        mid = ((mine > 7200) & (mine < 14400)).sum() / 7200          # 11:15-13:15
        opening = (mine < 300).sum() / 300                            # 09:15-09:20
        closing = (mine > SESSION_S - 300).sum() / 300                # 15:25-15:30
        assert 2.7 <= mid <= 3.3, (k, mid)                            # ticks_per_s 3 mid-session
        assert opening > 2.0 * mid and closing > 1.5 * mid, (k, opening, closing, mid)


def test_realistic_profile_when_a_session_runs_then_volatility_per_tick_and_per_day_sit_in_the_documented_bands(  # noqa: E501 - the name is the test's sentence
    session,
):
    out, t = session
    per_tick = sigma_tick(2.0, 3.0)
    assert 0.6e-4 < per_tick < 0.9e-4      # ~0.74 bp a tick: 2 % a day over ~74,000 ticks
    for k in range(len(REFS)):
        mine = out["instrument"] == k
        price, when = out["price"][mine], t[mine]
        # grid fine enough that rounding does not dominate a tick
        if TICKS[k] / REFS[k] < 0.3 * per_tick:
            tick_sd = np.diff(np.log(price)).std()
            assert 0.85 * per_tick < tick_sd < 1.25 * per_tick, (k, tick_sd, per_tick)
        # daily: realised volatility of 5-minute returns (sampling clears the tick grid's noise)
        marks = price[np.searchsorted(when, np.arange(0, SESSION_S + 1, 300), side="right") - 1]
        daily = np.sqrt((np.diff(np.log(marks)) ** 2).sum()) * 100
        assert 1.5 <= daily <= 2.5, (k, daily)


def test_realistic_profile_when_a_feed_restarts_at_tick_n_then_it_continues_with_tick_n_plus_1():
    whole = _read(_source(), 9_000, read=333)
    resumed = _read(_source(start_after=5_000), 4_000)
    for field in ("instrument", "price", "qty", "volume", "ts_event_ns"):
        assert np.array_equal(resumed[field], whole[field][5_000:]), field


class _FakeTime:
    """Stands in for the sim's wall clock: sleep() advances it, nothing really waits."""

    def __init__(self):
        self.ns = 10**12

    def mono_ns(self):
        return self.ns

    def monotonic(self):
        return self.ns / 1e9

    def sleep(self, s):
        self.ns += math.ceil(max(s, 0.0) * 1e9)   # up, as a real sleep never returns early


@pytest.mark.parametrize("speed", [1.0, 5.0])
def test_realistic_clock_when_wall_time_passes_then_market_time_advances_speed_times_as_far_from_0915(  # noqa: E501 - the name is the test's sentence
    monkeypatch, speed
):
    fake = _FakeTime()
    monkeypatch.setattr(sim_module, "mono_ns", fake.mono_ns)
    monkeypatch.setattr(sim_module, "time", fake)
    src = _source(speed=speed)
    out = np.zeros(100_000, dtype=TICK_DTYPE)
    done = 0
    start = fake.ns
    # 20 s of (fake) wall time, read as the feed stage does
    while fake.ns - start < 20 * 10**9:
        done += src.read(out[done:done + 512], timeout_s=0.05)
    market_s = (out["ts_event_ns"][done - 1] - T0) / 1e9
    assert out["ts_event_ns"][0] >= T0 and np.all(np.diff(out["ts_event_ns"][:done]) >= 0)
    assert 20 * speed - 1.0 <= market_s <= 20 * speed + 0.05, market_s   # never ahead of the clock
    rate = done / (20 * speed) / len(REFS)
    assert 4.0 < rate < 9.0, rate                # the open's pace, ~2.5 x 3 ticks/s an instrument


def test_default_strategy_when_run_on_the_default_realistic_session_then_it_crosses_a_few_times_a_minute():  # noqa: E501 - the name is the test's sentence
    config = load_config(None, environ={}, dotenv_path=None).config
    params = config.strategies[0].params
    refs = [i.ref_price for i in config.instruments]
    src = _source(
        refs=refs, ticks=[i.tick_size for i in config.instruments], seed=config.feed.sim.seed
    )
    rows = _read(src, 3 * 3 * len(refs) * 3600)   # ~3 market hours
    t = (rows["ts_event_ns"] - T0) / 1e9
    cross = crossover_batch(
        rows,
        ema_batch(rows, params.fast, len(refs)),
        ema_batch(rows, params.slow, len(refs)),
        len(refs),
    )
    mid = (t > 3600) & (t < 3 * 3600)
    per_minute = np.count_nonzero(cross[mid]) / ((t[mid][-1] - t[mid][0]) / 60)
    assert 3 <= per_minute <= 25, per_minute     # over 24 names (EMA 10/30 here: ~300 a minute)


def test_config_when_a_stress_only_setting_is_given_to_the_realistic_profile_then_it_is_refused_by_name():  # noqa: E501 - the name is the test's sentence
    with pytest.raises(ConfigError, match=r"feed\.sim\.tick_rate_hz.*stress"):
        load_config(
            None, environ={}, dotenv_path=None, overrides={"feed": {"sim": {"tick_rate_hz": 200}}}
        )
    cfg = load_config(
        None,
        environ={},
        dotenv_path=None,
        overrides={"feed": {"sim": {"profile": "stress", "tick_rate_hz": 200}}},
    ).config
    assert cfg.feed.sim.tick_rate_hz == 200


def test_supervisor_when_given_speed_then_the_sim_clock_runs_that_many_times_wall_pace():
    from supervisor import build_parser, overrides_from

    over = overrides_from(build_parser().parse_args(["--speed", "10"]))
    assert (
        load_config(None, environ={}, dotenv_path=None, overrides=over).config.feed.sim.speed
        == 10.0
    )
    assert (
        msgspec.structs.asdict(load_config(None, environ={}, dotenv_path=None).config.feed.sim)[
            "speed"
        ]
        == 1.0
    )


def test_realistic_clock_when_no_session_date_then_it_opens_at_0915_ist_today_whatever_the_wall_time():  # noqa: E501 - the name is the test's sentence
    # a run in the evening still trades: the market clock starts at the open, not at the wall time
    def today_0915():
        d = dt.datetime.now(IST).date()
        return int(dt.datetime(d.year, d.month, d.day, 9, 15, tzinfo=IST).timestamp()) * 10**9

    before = today_0915()
    src = _source(session_date=None)
    first = _read(src, 1)["ts_event_ns"][0]
    assert src.t0 in (before, today_0915())          # (either side of an IST midnight)
    assert 0 < first - src.t0 < 10**9                # the first tick within a second of 09:15:00
