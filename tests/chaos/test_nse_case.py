"""The NSE replay case's data and expansion rule (tests/chaos/nse_case.py): fast, not a chaos
run."""

from datetime import datetime

from tests.chaos import nse_case


def test_bar_ticks_when_bar_closes_up_then_low_comes_before_high():
    assert nse_case.bar_ticks(100.0, 101.0, 99.5, 100.5) == (100.0, 99.5, 101.0, 100.5)


def test_bar_ticks_when_bar_closes_down_then_high_comes_before_low():
    assert nse_case.bar_ticks(100.0, 101.0, 99.5, 99.8) == (100.0, 101.0, 99.5, 99.8)


def test_bar_ticks_when_bar_is_flat_then_four_equal_ticks():
    assert nse_case.bar_ticks(430.0, 430.0, 430.0, 430.0) == (430.0,) * 4


def _ist(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / 1e9, nse_case.IST)


def test_expand_when_reading_the_committed_bars_then_four_ticks_a_bar_in_time_order():
    ts, symbols, prices = nse_case.expand()
    assert len(ts) == 3400 * 4
    assert ts == sorted(ts)
    assert set(symbols) == set(nse_case.SYMBOLS)
    assert {_ist(t).second for t in ts} == {0, 15, 30, 45}
    assert all(abs(p / 0.05 - round(p / 0.05)) < 1e-6 for p in prices)


def test_expand_when_reading_the_committed_bars_then_every_session_has_pre_open_and_post_close_ticks():  # noqa: E501 - the name is the test's sentence
    ts, _, _ = nse_case.expand()
    for day in nse_case.SESSIONS:
        clock = sorted(_ist(t).strftime("%H:%M") for t in ts if _ist(t).date().isoformat() == day)
        assert clock[0] == "09:07" and clock[-1] == "15:40", (day, clock[0], clock[-1])
        assert "09:15" in clock and "15:29" in clock


def test_expand_when_a_bar_is_in_the_file_then_its_ticks_carry_its_prices_at_its_minute():
    # 2021-07-28 09:07 SBIN is the file's first bar: a flat pre-open bar at 430.0
    ts, symbols, prices = nse_case.expand()
    first = [
        (_ist(t).strftime("%H:%M:%S"), p) for t, s, p in zip(ts, symbols, prices) if s == "SBIN"
    ][:4]
    assert first == [
        ("09:07:00", 430.0),
        ("09:07:15", 430.0),
        ("09:07:30", 430.0),
        ("09:07:45", 430.0),
    ]
    assert {i["symbol"]: i["ref_price"] for i in nse_case.INSTRUMENTS} == {
        s: next(p for p, sym in zip(prices, symbols) if sym == s) for s in nse_case.SYMBOLS}
