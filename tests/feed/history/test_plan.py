"""plan.py: chunks within each broker's per-call window; only missing days planned.
ratelimit.py: the wait."""

import datetime as dt

from feed.history.plan import WINDOWS, Window, cut, plan, runs
from feed.history.ratelimit import RateLimiter

D = dt.date


def test_plan_when_150_minute_days_on_kite_then_three_calls_of_at_most_60_days():
    chunks = plan("kite", "minute", ["SBIN"], D(2024, 1, 1), D(2024, 5, 29), {})
    assert [(c.first, c.last) for c in chunks] == [
        (D(2024, 1, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 4, 29)),
        (D(2024, 4, 30), D(2024, 5, 29)),
    ]
    assert all(len(c.days) <= 60 for c in chunks)


def test_plan_when_day_candles_on_kite_then_2000_days_a_call():
    chunks = plan("kite", "day", ["SBIN"], D(2015, 1, 1), D(2024, 12, 31), {})
    assert [len(c.days) for c in chunks] == [2000, 1653]


def test_plan_when_upstox_minute_then_no_chunk_crosses_a_calendar_month():
    chunks = plan("upstox", "minute", ["SBIN"], D(2024, 1, 15), D(2024, 3, 10), {})
    assert [(c.first, c.last) for c in chunks] == [
        (D(2024, 1, 15), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 10)),
    ]


def test_plan_when_upstox_day_then_a_call_covers_less_than_a_decade():
    assert WINDOWS["upstox"]["day"] == Window(days=3650)
    assert cut(D(2000, 1, 1), D(2024, 12, 31), Window(days=3650))[0] == (
        D(2000, 1, 1),
        D(2009, 12, 28),
    )


def test_plan_when_days_are_done_then_only_the_missing_runs_are_fetched():
    done = {"SBIN": {D(2024, 1, d) for d in range(1, 32) if d != 10}, "INFY": set()}
    chunks = plan("kite", "minute", ["SBIN", "INFY"], D(2024, 1, 1), D(2024, 1, 31), done)
    assert [(c.symbol, c.first, c.last) for c in chunks] == [
        ("SBIN", D(2024, 1, 10), D(2024, 1, 10)), ("INFY", D(2024, 1, 1), D(2024, 1, 31))]


def test_runs_when_days_have_gaps_then_each_consecutive_stretch_is_one_run():
    days = [D(2024, 1, 3), D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 7)]
    assert runs(days) == [(D(2024, 1, 1), D(2024, 1, 3)), (D(2024, 1, 7), D(2024, 1, 7))]


def test_rate_limiter_when_a_fourth_call_comes_within_the_second_then_it_waits_for_the_first_to_age_out():  # noqa: E501 - the name is the test's sentence
    now = [100.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(((3, 1.0),), clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
        now[0] += 0.1
    limiter.wait()
    assert len(slept) == 1 and abs(slept[0] - 0.7) < 1e-9
    assert abs(now[0] - 101.0) < 1e-9


def test_rate_limiter_when_several_windows_then_the_tightest_one_decides():
    now = [0.0]
    limiter = RateLimiter(
        ((50, 1.0), (2, 60.0)), clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    limiter.wait()
    limiter.wait()
    limiter.wait()
    assert now[0] == 60.0
