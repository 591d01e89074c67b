"""The second strategy (the README's worked example) trades stretches away from the session VWAP."""

import numpy as np

from config.schema import StrategyConfig
from signals.kernels.bracket import round_down, round_up
from signals.kernels.vwap import vwap_batch
from tests.signals.synthetic import (
    TICK,
    ist_ns,
    make_config,
    make_engine,
    run_batches,
    series_ticks,
)

BAND = 0.3
WARM = 30


def _vwr(**params):
    params = {"band_pct": BAND, "min_session_ticks": WARM, **params}
    return make_config(StrategyConfig(name="vwr", kind="vwap_revert", params=params))


def _oscillating(n=2000, start_ns=ist_ns(20094, 9, 15)):
    t = np.arange(n)
    prices = np.round((1000.0 * (1 + 0.008 * np.sin(t / 40.0))) / TICK) * TICK
    rows = series_ticks(prices, start_ns=start_ns)
    rows["qty"] = 50 + (t * 7) % 90
    return rows


def _expected(rows, allow_short=True):
    """The zone rule applied to the reference VWAP (one session)."""
    vwap = vwap_batch(rows, 1)
    out, zone = [], 0
    for i, row in enumerate(rows):
        if i + 1 < WARM:
            continue
        price, band = row["price"], vwap[i] * BAND / 100
        now = -1 if price < vwap[i] - band else 1 if price > vwap[i] + band else 0
        if now != 0 and now != zone and (now < 0 or allow_short):
            out.append((int(row["seq"]), -now, vwap[i]))
        zone = now
    return out


def test_vwap_revert_buys_below_the_band_and_sells_above_it_targeting_the_vwap():
    rows = _oscillating()
    engine, _ = make_engine(_vwr())
    sent = run_batches(engine, rows, 50)
    expected = _expected(rows)
    assert [(f["tick_seq"], f["side"]) for f in sent] == [(seq, side) for seq, side, _ in expected]
    assert len(sent) >= 6 and {f["side"] for f in sent} == {1, -1}
    for fields, (_, side, vwap) in zip(sent, expected):
        price = float(rows["price"][fields["tick_seq"] - 1])
        assert fields["target"] == (round_up(vwap, TICK) if side > 0 else round_down(vwap, TICK))
        low, high = (fields["stop_loss"], fields["target"])[::side]
        assert low < price < high


def test_vwap_revert_without_allow_short_only_buys():
    rows = _oscillating()
    engine, _ = make_engine(_vwr(allow_short=False))
    sent = run_batches(engine, rows, 50)
    assert [(f["tick_seq"], f["side"]) for f in sent] == [
        (s, d) for s, d, _ in _expected(rows, False)
    ]
    assert {f["side"] for f in sent} == {1}


def test_a_new_ist_session_restarts_the_vwap_and_the_warm_up():
    day1 = _oscillating(600)
    day2 = _oscillating(600, start_ns=ist_ns(20095, 9, 15))
    # gaps up overnight: yesterday's VWAP is irrelevant
    day2["price"] *= 1.2
    day2["seq"] += 600
    rows = np.concatenate([day1, day2])
    engine, _ = make_engine(_vwr())
    sent = run_batches(engine, rows, 50)
    second = [f for f in sent if f["tick_seq"] > 600]
    assert second and min(f["tick_seq"] for f in second) >= 600 + WARM
    assert [(f["tick_seq"], f["side"]) for f in second] == [(s, d) for s, d, _ in _expected(day2)]
