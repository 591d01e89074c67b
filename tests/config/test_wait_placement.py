"""`stages.<name>.wait` (auto / spin / block): how it resolves, what --check-config refuses, and
what the summary shows (config/placement.py, config/cli.py)."""

import io

import pytest

from common.errors import ConfigError
from config.cli import EXIT_CONFIG_ERROR, EXIT_OK, check_config, placement
from config.loader import load_config
from config.placement import available_cores, resolve_cores, resolve_waits

INSTRUMENT = {"symbol": "SBIN", "token": 779521, "tick_size": 0.05, "ref_price": 950.0}


def load(stages: dict | None = None, cores=(0, 1)):
    return load_config(None, None, {}, None, available_cores=list(cores),
                       overrides={"instruments": [INSTRUMENT], "stages": stages or {}})


def waits_on(stages: dict | None, cores) -> dict[str, str]:
    config = load(stages, cores).config
    return resolve_waits(config, resolve_cores(config, list(cores)))


def test_wait_when_auto_on_two_cores_then_signals_spins_and_the_rest_block_as_before():
    assert waits_on(None, (0, 1)) == {
        "feed": "block", "signals": "spin", "orders": "block", "positions": "block"}


def test_wait_when_auto_and_signals_shares_its_core_then_it_yields_as_before():
    assert waits_on(None, (0,))["signals"] == "yield"


def test_wait_when_orders_spins_on_four_cores_then_it_has_a_core_of_its_own_and_spins():
    assert waits_on({"orders": {"wait": "spin"}}, (0, 1, 2, 3)) == {
        "feed": "block", "signals": "spin", "orders": "spin", "positions": "block"}


def test_wait_when_signals_blocks_then_it_blocks_even_alone_on_a_core():
    assert waits_on({"signals": {"wait": "block"}}, (0, 1))["signals"] == "block"


def test_spin_when_the_stage_shares_a_core_then_the_loader_refuses_naming_the_collapse():
    # 2 cores: orders shares core 0 with feed, positions and the supervisor
    with pytest.raises(ConfigError) as info:
        load({"orders": {"wait": "spin"}}, (0, 1))
    assert info.value.path == "stages.orders.wait"
    assert "core of its own" in str(info.value) and "80-250x" in str(info.value)
    assert "supervisor" in str(info.value)


def test_two_spinners_when_two_cores_then_refused_even_with_explicit_cores():
    with pytest.raises(ConfigError) as info:
        load({"signals": {"wait": "spin", "cores": [1]},
              "orders": {"wait": "spin", "cores": [1]}}, (0, 1))
    assert info.value.path == "stages.signals.wait"
    assert "shares core(s) 1 with orders" in str(info.value)


def test_two_spinners_when_three_cores_on_distinct_own_cores_then_allowed():
    assert waits_on({"orders": {"wait": "spin"}}, (0, 1, 2))["orders"] == "spin"


def test_spin_when_the_stage_cannot_spin_then_refused_by_name():
    with pytest.raises(ConfigError) as info:
        load({"feed": {"wait": "spin"}}, tuple(range(8)))
    assert info.value.path == "stages.feed.wait"
    assert "feed has no spinning wait" in str(info.value)


def test_wait_when_not_a_mode_then_the_schema_refuses_it():
    with pytest.raises(ConfigError) as info:
        load({"orders": {"wait": "poll"}})
    assert "stages.orders.wait" in str(info.value)


def test_check_config_when_spin_shares_a_core_then_exit_code_and_one_error():
    core = available_cores()[0]
    out, err = io.StringIO(), io.StringIO()
    code = check_config(None, None, {}, dotenv_path=None, out=out, err=err, overrides={
        "stages": {"signals": {"cores": [core]}, "orders": {"cores": [core], "wait": "spin"}}})
    assert code == EXIT_CONFIG_ERROR and out.getvalue() == ""
    assert "stages.orders.wait" in err.getvalue() and "80-250x" in err.getvalue()


def test_check_config_when_ok_then_the_summary_shows_each_stages_cores_and_wait():
    out = io.StringIO()
    assert check_config(None, None, {}, dotenv_path=None, out=out, err=io.StringIO()) == EXIT_OK
    assert "placement (" in out.getvalue() and "signals " in out.getvalue()


def test_placement_summary_when_two_cores_then_names_cores_and_modes():
    assert placement(load(), [0, 1]) == (
        "placement (2 usable cores): feed 0 block, signals 1 spin, orders 0 block, "
        "positions 0 block")
