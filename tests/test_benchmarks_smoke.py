"""The restart and pipeline benchmarks run end to end in a tiny configuration and report their
numbers.

No timing is asserted (timing requirements live in the benchmarks' own output): only that each run
completes, yields samples under the keys the JSON results promise, and leaves nothing behind. The
run ids carry this pytest session's tag, so the shared-memory leak fixture watches their segments.
"""

import math

import pytest

from benchmarks import pipeline, restart
from benchmarks.__main__ import REGISTRY
from benchmarks.harness import STAGES
from tests.support import unique_run_id


def test_registry_names_the_restart_and_pipeline_benchmarks():
    assert REGISTRY["restart"] == "benchmarks.restart"
    assert REGISTRY["pipeline"] == "benchmarks.pipeline"


def test_universe_has_unique_tokens_and_nse_tick_sizes_for_its_price_bands():
    instruments = pipeline.universe()
    assert len(instruments) == 50
    assert len({i["token"] for i in instruments}) == 50
    assert len({i["symbol"] for i in instruments}) == 50
    bands = {tick for _, tick in pipeline.TICK_BANDS}
    assert {i["tick_size"] for i in instruments} == bands      # every band is represented
    for inst in instruments:
        assert inst["tick_size"] == pipeline.tick_size_for(inst["ref_price"])
        steps = inst["ref_price"] / inst["tick_size"]
        assert math.isclose(steps, round(steps), abs_tol=1e-6)


@pytest.mark.slow
def test_restart_benchmark_reports_crash_to_ready_for_every_stage():
    result = restart.measure(kills_per_stage=1, run_id_prefix=unique_run_id())

    assert result["exit_code"] == 0
    assert result["leaked"] == {}
    assert result["unexpected_events"] == []
    for stage in STAGES:
        figures = result["stages"][stage]
        assert figures["kills"] == 1
        assert figures["max_backoff_ms"] == 0.0
        for metric in restart.METRICS:
            assert figures[metric]["count"] == 1
            assert {"p50_ms", "p99_ms", "max_ms"} <= set(figures[metric])
        assert figures["exit_to_ready_ms"]["p50_ms"] > 0


@pytest.mark.slow
def test_pipeline_benchmark_reports_throughput_and_stage_latencies():
    result = pipeline.measure(n_ticks=20_000, live_seconds=2.0, run_id_prefix=unique_run_id())

    for name in ("replay", "replay_no_intents"):
        replay = result[name]
        assert replay["exit_code"] == 0, (replay["reason"], replay["unexpected_events"])
        assert replay["leaked"] == {}
        assert replay["counters"]["signals"]["ticks"] == 20_000
        assert replay["counters"]["orders"]["ticks"] == 20_000
        throughput = replay["throughput"]
        assert throughput["ticks"] == 20_000
        assert throughput["feed_ticks_per_s"] > 0 and throughput["end_to_end_ticks_per_s"] > 0
        assert replay["latency"]["tick_to_signal"]["count"] == 20_000
    assert result["replay_no_intents"]["counters"]["signals"]["intents"] == 0
    live = result["live"]
    assert live["exit_code"] == 0, (live["reason"], live["unexpected_events"])
    assert live["leaked"] == {}
    assert live["latency"]["tick_to_signal"]["count"] > 0
    for key in (
        "tick_to_signal",
        "tick_to_intent",
        "tick_to_order",
        "order_to_fill",
        "tick_to_fill",
    ):
        assert "count" in live["latency"][key]
        if live["latency"][key]["count"]:
            assert {"p50_us", "p99_us", "p99_9_us", "max_us"} <= set(live["latency"][key])
