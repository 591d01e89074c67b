"""The pipeline benchmark's placement record and its ≥ 4-core spinning-orders case (issue 14.5)."""

from benchmarks import pipeline, placement


def test_placement_when_two_usable_cores_then_the_spinning_case_is_not_measurable_not_a_number():
    assert placement.not_measurable(2) == "not measurable here: 2 usable cores"
    assert placement.not_measurable(4) is None


def test_placement_when_described_then_it_records_each_stages_cores_and_wait():
    live = pipeline.live_config(pipeline.universe(3))
    assert placement.describe(live, [0, 1]) == {
        "usable_cores": 2, "supervisor_cores": [0],
        "stages": {"feed": {"cores": [0], "wait": "block"},
                   "signals": {"cores": [1], "wait": "spin"},
                   "orders": {"cores": [0], "wait": "block"},
                   "positions": {"cores": [0], "wait": "block"}}}


def test_placement_when_orders_spins_on_four_cores_then_orders_has_its_own_spinning_core():
    live = pipeline.merge(pipeline.live_config(pipeline.universe(3)), placement.SPINNING_ORDERS)
    described = placement.describe(live, [0, 1, 2, 3])
    assert described["stages"]["orders"] == {"cores": [2], "wait": "spin"}
    assert described["stages"]["signals"] == {"cores": [3], "wait": "spin"}


def test_table_rows_when_spinning_case_not_measurable_then_the_row_says_so_with_no_value():
    hist = {"count": 0}
    live = {"latency": {key: hist for key, _ in pipeline.LATENCY_LABELS}}
    throughput = {"end_to_end_ticks_per_s": 1, "feed_ticks_per_s": 1}
    replay = {"exit_code": 0, "hangs": 0, "throughput": throughput}
    result = {"n_ticks": 1, "replay": replay, "replay_no_intents": replay, "live": live,
              "live_orders_spinning": placement.not_measurable(2)}
    [row] = [r for r in pipeline.table_rows(result) if "orders spinning" in r["metric"]]
    assert row["value"] is None and row["note"] == "not measurable here: 2 usable cores"
