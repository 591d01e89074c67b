"""The peers benchmark: every system really runs the session, raises the reference's intents, leaves
nothing.

No timing is asserted (that is the benchmark's own output). The fast tests pin the pieces the
comparison rests on to OTrade's and the other libraries' own code: the plain-Python crossover
against OTrade's kernels and NautilusTrader's EMA, the Kite frames against OTrade's encoder and
pykiteconnect's parser. The slow one runs the whole benchmark on a tiny session.
"""

import gc
import os
import sys
import tempfile

import numpy as np
import psutil
import pytest

from benchmarks import peers
from benchmarks.harness import scratch_dir
from benchmarks.peers import backtest, kiteloop, nautilus, otrade
from benchmarks.peers.result import PEERS, SYSTEMS, table_rows
from benchmarks.peers.session import prepare, strategy_params
from benchmarks.peers.strategy import EMA, reference_signals
from benchmarks.peers.ticks import load
from benchmarks.pipeline import universe, write_session
from tests.support import unique_run_id

N_TICKS, LIVE_SECONDS, N_LIVE = 5_000, 1.0, 2_000
ENTRY_KEYS = {"replay_ticks_per_s", "tick_to_order_us", "intents", "orders", "skipped", "note"}
RESULT_KEYS = {
    "ticks",
    "instruments",
    "live_rate_hz",
    "live_seconds",
    "strategy",
    "systems",
    "ratios",
    "backtest",
}


@pytest.fixture(scope="module")
def session_ticks():
    instruments = universe()
    with scratch_dir() as tmp:
        path = os.path.join(tmp, "session.parquet")
        write_session(path, instruments, N_TICKS)
        yield load(path, instruments)


def _rows(ticks):
    rows = np.zeros(len(ticks), dtype=[("instrument", np.int64), ("price", np.float64)])
    rows["instrument"], rows["price"] = ticks.instrument, ticks.price
    return rows


def test_reference_crossover_raises_exactly_otrades_ema_and_sma_signals(session_ticks):
    from signals.kernels.crossover import crossover_batch
    from signals.kernels.ema import ema_batch
    from signals.kernels.sma import SMA_DTYPE, sma_update

    rows, k = _rows(session_ticks), len(session_ticks.symbols)

    def streamed_sma(n):
        out = np.zeros(len(rows))
        sma_update(rows, np.zeros(k, dtype=SMA_DTYPE), np.zeros((k, n + 1)), n, out)
        return out

    params = dict(strategy_params(), fast=10, slow=30)
    for ma, fast, slow in (("ema", ema_batch(rows, 10, k), ema_batch(rows, 30, k)),
                           ("sma", streamed_sma(10), streamed_sma(30))):
        expected = crossover_batch(rows, fast, slow, k)
        ours = reference_signals(session_ticks.instrument, session_ticks.price, dict(params, ma=ma))
        assert np.count_nonzero(expected) > 50
        np.testing.assert_array_equal(ours, expected)


def test_first_price_seeded_ema_is_nautilus_exponential_moving_average(session_ticks):
    indicators = pytest.importorskip("nautilus_trader.indicators")
    theirs, ours = indicators.ExponentialMovingAverage(10), EMA(10, seed="first")
    for price in session_ticks.price[session_ticks.instrument == 0].tolist():
        theirs.update_raw(price)
        value = ours.update(price)
        assert (value is not None) == theirs.initialized
        assert ours.value == theirs.value


def test_kite_frames_are_otrades_encoding_and_parse_back_to_every_tick(session_ticks):
    from kiteconnect import KiteTicker

    from feed.sources.kite.frames import DepthLevel, KiteQuote, encode_frame, encode_packet

    t = session_ticks
    frames, due = kiteloop.encode_frames(t)
    bounds = kiteloop.frame_bounds(t.instrument)
    assert len(frames) == len(due) == len(bounds) and bounds[-1][1] == len(t)
    for start, end in bounds:
        assert len(set(t.instrument[start:end].tolist())) == end - start
    for frame, (start, end) in list(zip(frames, bounds))[:20]:
        expected = encode_frame(
            encode_packet(
                KiteQuote(
                    int(t.token[i]),
                    float(t.price[i]),
                    last_qty=int(t.qty[i]),
                    average_price=float(t.price[i]),
                    volume=int(t.volume[i]),
                    close=float(t.ref_prices[t.instrument[i]]),
                    last_trade_time=int(t.ts_event_ns[i] // 10**9),
                    exchange_ts=int(t.ts_event_ns[i] // 10**9),
                    bids=(DepthLevel(float(t.bid[i]), int(t.qty[i])),),
                    asks=(DepthLevel(float(t.ask[i]), int(t.qty[i])),),
                ),
                "full",
            )
            for i in range(start, end)
        )
        assert frame == expected
    parsed = [tick for frame in frames for tick in KiteTicker("k", "t")._parse_binary(frame)]
    assert [p["instrument_token"] for p in parsed] == t.token.tolist()
    # Kite carries paise: the file's 2406.2000000000003 arrives as 2406.2, the same price on the
    # grid.
    np.testing.assert_allclose([p["last_price"] for p in parsed], t.price, rtol=0, atol=1e-6)


def test_without_nautilus_its_entry_is_skipped_with_the_install_hint(monkeypatch):
    # what an uninstalled package looks like
    monkeypatch.setitem(sys.modules, "nautilus_trader", None)
    assert not nautilus.installed()
    entry = nautilus.entry(nautilus.measure(session=None))
    assert entry["skipped"] == "nautilus_trader not installed: pip install -e '.[bench]'"
    assert set(entry) == ENTRY_KEYS and entry["replay_ticks_per_s"] is None


def test_backtest_peer_when_run_on_the_session_then_every_tick_is_applied_and_the_reference_intents_raised():  # noqa: E501 - the name is the test's sentence
    with scratch_dir() as tmp:
        session = prepare(tmp, N_TICKS, LIVE_SECONDS, unique_run_id())
        detail = backtest.measure(session)
    _check_backtest(detail, session.reference)
    entry = backtest.entry(detail)
    assert (
        set(entry) == ENTRY_KEYS
        and entry["tick_to_order_us"] is None
        and entry["replay_ticks_per_s"] > 0
    )
    assert backtest.quiet_ticks_per_s(detail) > 0


def _check_backtest(detail: dict, reference: dict) -> None:
    cross, quiet = detail["crossover"], detail["quiet"]
    assert cross["ticks"] == quiet["ticks"] == N_TICKS
    assert cross["intents"] == reference["replay"] and quiet["intents"] == 0
    assert (
        cross["entries"] + cross["denials"] == cross["intents"]
        and cross["orders"] >= cross["entries"] > 0
    )


def _children() -> list[psutil.Process]:
    """Child processes of this test process, except multiprocessing's resource tracker (it lives as
    long as the process that first needed it, by design)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def _leftovers() -> set[str]:
    shm = {f"shm:{n}" for n in os.listdir("/dev/shm") if n.startswith("sem.mp-")}
    tmp = {f"tmp:{n}" for n in os.listdir(tempfile.gettempdir()) if n.startswith("otrade-peer-")}
    return shm | tmp


def _check_work(raw: dict) -> None:
    ref, d = raw["reference"], raw["details"]
    applied = otrade.ticks_applied(d["otrade"])
    for run, n in (("replay", N_TICKS), ("live", N_LIVE)):
        assert applied[run]["signals"] == applied[run]["orders"] == n
        assert d["otrade"][run]["counters"]["signals"]["intents"] == ref[run]
        assert d["otrade"][run]["exit_code"] == 0 and d["otrade"][run]["leaked"] == {}
        for name in ("mp_queue", "pyzmq"):
            figures = d[name][run]
            assert set(figures["ticks"].values()) == {n}, (name, run, figures["ticks"])
            assert figures["intents"] == figures["orders"] == figures["fills"] == ref[run], (
                name,
                run,
            )
        kite = d["kite_loop"][run]
        assert kite["ticks"] == n and kite["intents"] == kite["orders"] == kite["fills"] == ref[run]
    for name in ("mp_queue", "pyzmq", "kite_loop"):
        assert d[name]["live"]["tick_to_order"]["count"] == ref["live"]
    _check_backtest(d["backtest"], ref)
    if d["nautilus"]["skipped"] is None:
        backtest = d["nautilus"]["replay"]
        assert backtest["ticks"] == N_TICKS
        assert backtest["intents"] == backtest["orders"] == ref["replay_first_seed"]


@pytest.mark.slow
def test_peers_benchmark_runs_every_system_on_the_same_ticks_and_leaves_nothing():
    gc.collect()
    children_before, leftovers_before = {p.pid for p in _children()}, _leftovers()

    raw = peers.measure_raw(N_TICKS, LIVE_SECONDS, run_id_prefix=unique_run_id())
    result = peers.shape(raw)

    assert set(result) == RESULT_KEYS and set(result["systems"]) == set(SYSTEMS)
    assert (result["ticks"], result["instruments"], result["live_rate_hz"]) == (N_TICKS, 50, 2000)
    assert result["strategy"]["ma"] == "ema"
    for name, entry in result["systems"].items():
        assert set(entry) == ENTRY_KEYS, name
    assert result["systems"]["nautilus"]["skipped"] in (None, nautilus.SKIPPED)
    assert result["systems"]["nautilus"]["tick_to_order_us"] is None
    for name in ("otrade", "mp_queue", "pyzmq", "kite_loop", "backtest"):
        assert result["systems"][name]["replay_ticks_per_s"] > 0
        if name == "backtest":
            continue
        assert {"count", "p50_us", "p99_us"} <= set(result["systems"][name]["tick_to_order_us"])
    assert result["systems"]["backtest"]["tick_to_order_us"] is None
    assert result["backtest"]["no_intent_ticks_per_s"] > 0
    assert (result["backtest"]["replay_vs_nautilus"] is None) == (
        result["systems"]["nautilus"]["skipped"] is not None
    )
    assert set(result["ratios"]) == set(PEERS)
    assert result["ratios"]["mp_queue"]["replay_throughput"] > 0
    metrics = {row["metric"] for row in table_rows(result)}
    assert {
        "otrade replay throughput",
        "OTrade ÷ nautilus replay throughput",
        "pyzmq tick → order p99",
        "backtest replay throughput",
        "backtest no-intent throughput",
    } <= metrics
    _check_work(raw)

    gc.collect()
    assert [p for p in _children() if p.pid not in children_before] == []
    assert _leftovers() - leftovers_before == set()
