"""Automatic and explicit core placement of the stages and the supervisor."""

import os

import msgspec
import pytest

from common.errors import ConfigError
from config.placement import available_cores, resolve_cores
from config.schema import Config

INSTRUMENT = {"symbol": "SBIN", "token": 779521, "tick_size": 0.05, "ref_price": 950.0}


def config_with(stages: dict | None = None) -> Config:
    return msgspec.convert({"instruments": [INSTRUMENT], "stages": stages or {}}, Config)


def test_one_core_runs_everything_on_it():
    placement = resolve_cores(config_with(), [0])
    assert set(placement) == {"feed", "signals", "orders", "positions", "supervisor"}
    assert all(cores == [0] for cores in placement.values())


def test_two_cores_give_signals_the_last_core_alone():
    assert resolve_cores(config_with(), [0, 1]) == {
        "feed": [0], "signals": [1], "orders": [0], "positions": [0], "supervisor": [0],
    }


def test_four_cores_give_each_hot_stage_its_own_and_share_the_first():
    assert resolve_cores(config_with(), [0, 1, 2, 3]) == {
        "feed": [1], "signals": [3], "orders": [2], "positions": [0], "supervisor": [0],
    }


def test_eight_cores_give_every_stage_and_the_supervisor_its_own():
    placement = resolve_cores(config_with(), list(range(8)))
    assert placement == {
        "supervisor": [0],
        "feed": [1],
        "signals": [2],
        "orders": [3],
        "positions": [4],
    }


def test_placement_uses_the_affinity_list_not_core_numbers():
    assert resolve_cores(config_with(), [5, 2])["signals"] == [5]
    assert resolve_cores(config_with(), [5, 2])["feed"] == [2]


def test_explicit_cores_win_over_automatic_placement():
    placement = resolve_cores(config_with({"orders": {"cores": [0, 1]}}), [0, 1])
    assert placement["orders"] == [0, 1]
    assert placement["signals"] == [1]


def test_explicit_core_outside_the_affinity_is_an_error():
    with pytest.raises(ConfigError) as info:
        resolve_cores(config_with({"feed": {"cores": [3]}}), [0, 1])
    assert info.value.path == "stages.feed.cores[0]"


def test_available_cores_are_this_processes_affinity():
    assert available_cores() == sorted(os.sched_getaffinity(0))
