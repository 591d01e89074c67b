"""The sweep's parts without Ray: axes and paths, walk-forward folds, the cell store, the in-memory
tape."""

import numpy as np
import pytest

from backtest.sweep import space, tables, walkforward
from backtest.sweep.cell import Cell
from backtest.sweep.data import ArrayTape, TickData
from backtest.sweep.driver import Options, check_objective
from backtest.sweep.store import CellStore
from backtest.tape import Tape, local_instruments, ist_day_number
from common.errors import ConfigError
from common.instruments import instrument_rows
from config.loader import load_config
from tests.backtest.cases import nse_config


def test_axes_when_lists_ranges_and_text_then_values_are_typed_as_json():
    axes = space.parse_axes(["strategies.0.params.fast=5,10", "strategies.0.params.slow=30:50:10",
                             "strategies.0.params.ma=ema,sma", 'risk.cutoff="15:00"'])
    assert axes == {"strategies.0.params.fast": [5, 10], "strategies.0.params.slow": [30, 40, 50],
                    "strategies.0.params.ma": ["ema", "sma"], "risk.cutoff": ["15:00"]}
    assert len(space.grid_cells(axes)) == 12


@pytest.mark.parametrize("spec", ["fast", "=1,2", "a=", "a=5:1", "a=1:9:0"])
def test_axes_when_malformed_then_config_error_names_the_option(spec):
    with pytest.raises(ConfigError) as e:
        space.parse_axes([spec])
    assert "--grid" in str(e.value)


def test_apply_when_path_has_list_index_then_only_that_value_changes_in_a_copy():
    raw = {"strategies": [{"params": {"fast": 1}}, {"params": {"fast": 2}}]}
    out = space.apply(raw, {"strategies.1.params.fast": 9, "risk.max_order_qty": 3})
    assert out == {
        "strategies": [{"params": {"fast": 1}}, {"params": {"fast": 9}}],
        "risk": {"max_order_qty": 3},
    }
    assert raw["strategies"][1]["params"]["fast"] == 2
    with pytest.raises(ConfigError):
        space.apply(raw, {"strategies.5.params.fast": 1})


def test_random_cells_when_seeded_then_distinct_and_repeatable():
    axes = {"a": list(range(10)), "b": list(range(10))}
    draw = space.random_cells(axes, 7, seed=3)
    assert draw == space.random_cells(axes, 7, seed=3)
    assert len({tuple(c.values()) for c in draw}) == 7
    assert space.random_cells({"a": [1, 2]}, 5, seed=0) == [{"a": 1}, {"a": 2}]


def test_walk_forward_when_sessions_split_then_test_windows_follow_one_another():
    days = [f"2024-01-{d:02d}" for d in range(1, 11)]
    folds = walkforward.split(days, walkforward.parse_spec("train=4d,test=2d"))
    assert [(f.train, f.test) for f in folds] == [
        (("2024-01-01", "2024-01-04"), ("2024-01-05", "2024-01-06")),
        (("2024-01-03", "2024-01-06"), ("2024-01-07", "2024-01-08")),
        (("2024-01-05", "2024-01-08"), ("2024-01-09", "2024-01-10"))]
    with pytest.raises(ConfigError):
        walkforward.split(days[:5], (4, 2))
    with pytest.raises(ConfigError):
        walkforward.parse_spec("train=4,test=2d")


def test_store_when_a_crash_cut_the_last_row_then_the_row_is_dropped_and_the_rest_kept(tmp_path):
    store = CellStore(str(tmp_path))
    ok = Cell({"a": 1}, (None, None), "k1")
    store.append(ok, {"status": "ok", "net_pnl_inr": 1.5, "daily": [["2024-01-01", 1.5]]})
    store.append(Cell({"a": 2}, (None, None), "k2"), {"status": "error", "error": "boom"})
    with open(store.path, "ab") as f:
        f.write(b'k3,ok,,"{""a"":3}",,,12.0')      # what a crash mid-write leaves: no newline
    again = CellStore(str(tmp_path))
    assert set(again.records) == {"k1", "k2"}
    assert again.done("k1") and not again.done("k2")  # an error is tried again, ok is not
    assert again.records["k1"]["net_pnl_inr"] == 1.5 and again.records["k1"]["daily"] == [
        ["2024-01-01", 1.5]
    ]
    again.append(
        Cell({"a": 3}, (None, None), "k3"), {"status": "invalid", "error": "slow: must be > fast"}
    )
    assert CellStore(str(tmp_path)).done("k3")
    with open(store.path, "rb") as f:
        assert f.read().endswith(b"\n")


@pytest.mark.parametrize(
    "window", [(None, None), ("2021-07-29", "2021-07-30"), ("2021-07-28", "2021-07-28")]
)
def test_array_tape_when_reading_ticks_from_memory_then_it_yields_the_file_tapes_ticks(
    tmp_path, window
):
    config = load_config(nse_config(tmp_path)).config
    first, last = (ist_day_number(d, "w") if d else None for d in window)
    data = TickData.load(config)
    shared = data.ticks.copy()
    shared.flags.writeable = False          # as Ray's object store hands it over
    mine = ArrayTape(config, shared, data.source_drops, first, last)
    theirs = Tape(config, local_instruments(instrument_rows(config)), first, last)
    try:
        a = np.concatenate([t for _, t in mine.chunks()])
        b = np.concatenate([t for _, t in theirs.chunks()])
    finally:
        theirs.close()
    # a clock reading, as in the pipeline
    fields = [f for f in a.dtype.names if f != "ts_recv_ns"]
    assert len(a) == len(b) > 0
    assert all(np.array_equal(a[f], b[f]) for f in fields)
    assert mine.outside_window == theirs.outside_window and mine.drops() == theirs.drops()


def _rec(key, status="ok", net=None, fast=5):
    return {
        "key": key,
        "status": status,
        "net_pnl_inr": net,
        "params": {"f": fast},
        "window_from": None,
        "window_to": None,
        "error": "" if status == "ok" else "why",
        "daily": [],
    }


def test_results_when_some_cells_have_no_objective_then_they_sort_last_and_best_ignores_them():
    recs = [_rec("a", net=-5.0, fast=1), _rec("b", "invalid", fast=2), _rec("c", net=7.0, fast=3),
            _rec("d", net=None, fast=4), _rec("c", net=7.0, fast=3)]          # c proposed twice
    rows = tables.result_rows([({}, r) for r in recs], {"f": [1, 2, 3, 4]}, "net_pnl")
    assert [(r["key"], r["objective"]) for r in rows] == [
        ("c", 7.0),
        ("a", -5.0),
        ("b", None),
        ("d", None),
    ]
    assert tables.best(recs, "net_pnl")["key"] == "c"
    assert tables.best([_rec("x", "error")], "net_pnl") is None


def test_walk_forward_rows_when_a_fold_has_no_params_then_it_is_named_and_equity_skips_it():
    folds = walkforward.split([f"2024-01-0{d}" for d in range(1, 7)], (2, 2))
    test = dict(_rec("t", net=3.0), daily=[["2024-01-05", 1.0], ["2024-01-06", 2.0]])
    rows, daily = tables.walk_forward_rows(
        folds, [None, _rec("k", net=1.0)], [None, test], "net_pnl"
    )
    assert (
        rows[0]["test_status"] == "no params: no train cell has an objective"
        and rows[1]["test_net_pnl_inr"] == 3.0
    )
    assert [(d["date"], d["equity_inr"]) for d in daily] == [
        ("2024-01-05", 1.0),
        ("2024-01-06", 3.0),
    ]


@pytest.mark.parametrize("objective, walk, sessions, refused", [
    ("sharpe", (1, 1), 5, True), ("calmar", None, 1, True), ("sharpe", (2, 1), 5, False),
    ("net_pnl", (1, 1), 5, False), ("sharpe", None, 3, False)])
def test_objective_when_a_daily_ratio_has_one_session_a_window_then_refused_naming_the_option(
        objective, walk, sessions, refused):
    opts = Options(
        config="x.json", axes={"a": [1]}, out_dir="out", objective=objective, walk_forward=walk
    )
    if refused:
        with pytest.raises(ConfigError) as e:
            check_objective(opts, sessions)
        assert "--objective" in str(e.value) and "2 sessions" in str(e.value)
    else:
        check_objective(opts, sessions)
