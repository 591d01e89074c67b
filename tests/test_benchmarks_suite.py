"""The benchmark suite: one table, a results JSON and figures, and a failing benchmark costs only
itself.

The suite is driven with hand-written fake benchmarks (objects with `run` and `table_rows`) and with
the real `micro` and `gc` benchmarks at tiny sizes. No timing is asserted: only what gets run,
rendered and written.
"""

import orjson
import pytest

from benchmarks import gc_pause, micro, table
from benchmarks.__main__ import REGISTRY, main
from benchmarks.suite import run_suite
from common import gcpolicy

LATENCY = {
    "count": 1000,
    "p50_us": 2.5,
    "p99_us": 40.0,
    "p99_9_us": 900.0,
    "max_us": 4000.0,
    "mean_us": 5.0,
}


class FakeBenchmark:
    """Results shaped like the real ones: a latency summary, throughputs of ours and a peer's."""

    def __init__(self):
        self.runs = []

    def run(self, quick):
        self.runs.append(quick)
        return {"hop": LATENCY, "throughput": {"ring": {"ticks_per_s": 9_000_000},
                                               "mp_queue": {"ticks_per_s": 150_000}}}

    def table_rows(self, result):
        return [
            table.latency_row("fake", "hop latency", result["hop"]),
            table.row(
                "fake", "throughput ring", result["throughput"]["ring"]["ticks_per_s"], "ticks/s"
            ),
        ]


class ExplodingBenchmark:
    def run(self, quick):
        raise RuntimeError("the machine caught fire")


def _document(out_dir) -> dict:
    (path,) = out_dir.glob("*.json")
    return orjson.loads(path.read_bytes())


def test_rows_render_as_one_table_that_fits_100_columns():
    rows = [
        table.latency_row("ring", "hop latency, ring, busy-spin reader", LATENCY),
        table.row("ring", "throughput ring", 89_020_188, "ticks/s", "batch 1024, lost 0"),
        table.latency_row("micro", "handoff", {"count": 0}),
        table.failure_row(
            "peers", "ImportError: no module named nautilus_trader, a long explanation"
        ),
    ]
    for text in (table.render_plain(rows), table.render_rich(rows)):
        assert "2.50 / 40.0 / 900 µs" in text
        assert "89,020,188 ticks/s" in text
        assert "no samples" in text and "FAILED" in text and "nautilus_trader" in text
        assert max(len(line) for line in text.splitlines()) <= table.WIDTH


def test_suite_writes_the_json_and_the_figures_of_every_benchmark(tmp_path, capsys):
    fake = FakeBenchmark()
    code = run_suite(
        ["fake"],
        True,
        {"fake": fake},
        str(tmp_path),
        json_path=str(tmp_path / "copy.json"),
        stamp="20260101T000000Z",
    )

    assert code == 0 and fake.runs == [True]
    document = orjson.loads((tmp_path / "20260101T000000Z.json").read_bytes())
    assert document == orjson.loads((tmp_path / "copy.json").read_bytes())
    assert document["quick"] is True and document["status"] == {"fake": "ok"}
    assert {"cores", "cpu_model", "python", "numpy", "numba", "msgspec"} <= set(document["machine"])
    assert set(document["elapsed_s"]) == {"fake"}
    assert document["results"]["fake"]["hop"]["p99_9_us"] == 900.0
    assert [r["metric"] for r in document["rows"]] == ["hop latency", "throughput ring"]
    figures = sorted(p.name for p in (tmp_path / "20260101T000000Z").iterdir())
    assert figures == ["latency_fake.png", "throughput.png"]
    assert all(
        (tmp_path / "20260101T000000Z" / name).read_bytes()[:4] == b"\x89PNG" for name in figures
    )
    assert "hop latency" in capsys.readouterr().out


def test_a_failing_benchmark_is_reported_and_the_others_still_run(tmp_path, capsys):
    fake = FakeBenchmark()
    code = run_suite(
        ["boom", "fake"], False, {"boom": ExplodingBenchmark(), "fake": fake}, str(tmp_path)
    )

    assert code == 1
    assert fake.runs == [False]
    document = _document(tmp_path)
    assert document["status"] == {"boom": "failed", "fake": "ok"}
    assert document["errors"]["boom"] == "RuntimeError: the machine caught fire"
    assert [(r["benchmark"], r["metric"]) for r in document["rows"]][0] == ("boom", "FAILED")
    assert "the machine caught fire" in capsys.readouterr().out


def test_a_registered_benchmark_that_is_not_installed_is_skipped_not_failed(tmp_path):
    code = run_suite(["later"], True, {"later": "benchmarks.not_written_yet"}, str(tmp_path))

    assert code == 0
    assert _document(tmp_path)["status"] == {"later": "skipped"}


def test_registry_runs_in_process_benchmarks_first_and_the_peers_last():
    names = list(REGISTRY)
    assert names[:2] == ["micro", "gc"] and names[-1] == "peers"
    assert {"ring", "feed", "restart", "pipeline"} <= set(names)


def test_dispatcher_runs_only_the_named_benchmarks(tmp_path, monkeypatch):
    monkeypatch.setitem(
        micro.SIZES, True, {"config_loads": 3, "risk_checks": 20, "round_trips": 10}
    )

    assert main(["micro", "--quick", "--out", str(tmp_path)]) == 0

    document = _document(tmp_path)
    assert document["benchmarks"] == ["micro"]
    result = document["results"]["micro"]
    for key in ("config_load_default", "config_load_prod", "risk_check", "risk_kernel"):
        assert result[key]["count"] >= 3
    assert result["handoff"]["count"] == 10
    # entry, stop, target per round trip
    assert result["orders_at_broker"] == 3 * (micro.WARMUP + 10)
    assert len(document["rows"]) == len(micro.LABELS)


def test_dispatcher_refuses_an_unknown_benchmark(capsys):
    with pytest.raises(SystemExit):
        main(["nonesuch"])
    assert "unknown benchmark nonesuch" in capsys.readouterr().err


def test_gc_benchmark_measures_each_mode_in_a_process_set_up_like_a_stage():
    result = gc_pause.measure(round_trips=20, signal_steps=200)

    default, frozen = result["modes"]["default"], result["modes"]["frozen"]
    assert default["thresholds"] == list(gcpolicy.PYTHON_THRESHOLDS)
    assert frozen["thresholds"] == list(gcpolicy.FROZEN_THRESHOLDS)
    assert default["frozen_objects"] == [0] and frozen["frozen_objects"][0] > 10_000
    assert default["orders_ticks"]["count"] == frozen["orders_ticks"]["count"] == 60
    assert default["signals_step"]["count"] == 200
    metrics = [r["metric"] for r in gc_pause.table_rows(result)]
    assert "orders tick, gc default" in metrics and "orders tick, gc frozen" in metrics
