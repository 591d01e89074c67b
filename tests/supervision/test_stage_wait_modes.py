"""Each stage's wait mode from the launcher to the wait object the stage picks (issue 14.5)."""

import os
import time
from dataclasses import fields
from types import SimpleNamespace

import zmq

from common import stagetable as st
from common.poller import StagePoller
from common.stage import StageContext
from common.waits import (BlockingWait, BusySpinWait, SpinPoller, YieldingWait, ring_poller,
                          tick_wait)
from config.loader import load_config
from config.placement import helper_cores, wait_mode
from supervision.core import StageSpec
from supervision.launcher import RunPlan, stage_placement
from supervision.status import stage_status

INSTRUMENT = {"symbol": "SBIN", "token": 779521, "tick_size": 0.05, "ref_price": 950.0}


def plan(cores: dict[str, tuple[int, ...]], supervisor=(0,)) -> RunPlan:
    specs = [StageSpec(name, f"{name}.stage", c) for name, c in cores.items()]
    return RunPlan(specs, None, 8, False, [], supervisor_cores=supervisor)


def config(stages: dict, cores: list[int]):
    return load_config(None, None, {}, None, available_cores=cores,
                       overrides={"instruments": [INSTRUMENT], "stages": stages}).config


def test_launcher_when_two_core_default_then_signals_spins_alone_and_orders_blocks():
    p = plan({"feed": (0,), "signals": (1,), "orders": (0,), "positions": (0,)})
    cfg = config({}, [0, 1])
    by_name = {s.name: stage_placement(p, s, cfg) for s in p.stages}
    assert by_name["signals"] == (True, (0,), "spin")
    assert by_name["orders"] == (False, (), "block")


def test_launcher_when_orders_spins_on_four_cores_then_its_context_says_spin():
    p = plan({"feed": (1,), "signals": (3,), "orders": (2,), "positions": (0,)})
    cfg = config({"orders": {"wait": "spin"}}, [0, 1, 2, 3])
    orders = next(s for s in p.stages if s.name == "orders")
    assert stage_placement(p, orders, cfg) == (True, (0, 1, 3), "spin")


def test_launcher_when_signals_is_set_to_block_then_it_blocks_alone_on_its_core():
    p = plan({"feed": (0,), "signals": (1,), "orders": (0,), "positions": (0,)})
    signals = next(s for s in p.stages if s.name == "signals")
    assert stage_placement(p, signals, config({"signals": {"wait": "block"}}, [0, 1]))[2] == "block"


def test_stage_context_when_built_by_hand_then_wait_is_auto_and_follows_exclusive_cores():
    assert {f.name: f.default for f in fields(StageContext)}["wait"] == "auto"
    def ctx(stage: str, wait: str, exclusive: bool):
        return SimpleNamespace(stage=stage, wait=wait, exclusive_cores=exclusive)

    assert wait_mode(ctx("signals", "auto", True)) == "spin"
    assert wait_mode(ctx("signals", "auto", False)) == "yield"
    assert wait_mode(ctx("orders", "auto", True)) == "block"
    assert wait_mode(ctx("orders", "spin", True)) == "spin"


def test_signals_when_mode_is_spin_yield_or_block_then_the_matching_ring_wait():
    assert type(tick_wait("spin")) is BusySpinWait
    assert type(tick_wait("yield")) is YieldingWait
    assert type(tick_wait("block")) is BlockingWait


def test_orders_when_spin_then_a_spin_poller_else_the_blocking_stage_poller():
    assert ring_poller("spin") is SpinPoller
    assert ring_poller("block") is StagePoller


class FakeReader:
    """A ring reader whose records are set by the test; sleeping would be a bug for a spinner."""

    def __init__(self, available: int = 0):
        self.records = available

    def available(self) -> int:
        return self.records

    def begin_sleep(self) -> bool:
        raise AssertionError("a spinning poller never flags its reader asleep")


def test_spin_poller_when_records_are_published_then_it_returns_at_once_without_sleeping():
    assert SpinPoller([], FakeReader(available=3)).wait(10.0) == set()


def test_spin_poller_when_a_socket_is_readable_then_it_returns_that_socket():
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        a.bind("inproc://spin-poller")
        b.connect("inproc://spin-poller")
        a.send(b"x")
        poller = SpinPoller([b], FakeReader())
        deadline = time.monotonic() + 10.0
        ready: set = set()
        while not ready and time.monotonic() < deadline:   # inproc delivery is asynchronous
            ready = poller.wait(0.01)
        assert ready == {b}
    finally:
        a.close(0)
        b.close(0)
        ctx.term()


def test_spin_poller_when_nothing_arrives_then_it_gives_control_back_after_the_timeout():
    assert SpinPoller([], FakeReader()).wait(0.001) == set()


def test_status_when_a_stage_runs_then_health_and_the_view_show_its_cores_and_wait_mode():
    table = st.StageTable.create(f"otrade_test_wait_{os.getpid()}", os.getpid())
    try:
        proc = SimpleNamespace(name="orders", gave_up=False, proc=object(), pid=1, restarts=0,
                               restart_due=None, stage_ctx=SimpleNamespace(cores=(2,), wait="spin"))
        doc = stage_status(table, proc)
    finally:
        table.close()
    assert (doc["cores"], doc["wait"]) == ([2], "spin")


def test_helper_cores_when_a_stage_spins_then_its_helpers_go_to_its_io_cores():
    def ctx(wait: str, exclusive: bool, io_cores=()):
        return SimpleNamespace(stage="orders", wait=wait, exclusive_cores=exclusive, cores=(2,),
                               io_cores=io_cores)

    assert helper_cores(ctx("spin", True, (0, 1, 3))) == (0, 1, 3)
    assert helper_cores(ctx("block", True, (0, 1, 3))) == (2,)    # a sleeping stage lets them run
    assert helper_cores(ctx("block", False)) == (2,)
