"""common.stage.StageRuntime's side of the stop protocol: what it writes in its stage-table row,
as the supervisor's stop ladder reads it (supervision/stopladder.py)."""

import os
from types import SimpleNamespace

import pytest

from common import stagetable as st
from common.clock import mono_ns
from common.errors import BrokerRetryable
from common.stage import EXIT_BOUND_S, StageRuntime

S = 1_000_000_000


@pytest.fixture
def table():
    """(the supervisor's table, a stage's runtime attached to it)"""
    name = f"otrade_test_stage_{os.getpid()}"
    owner = st.StageTable.create(name, os.getpid())
    try:
        yield owner, StageRuntime(SimpleNamespace(stage="orders"), st.StageTable.attach(name))
    finally:
        owner.close()


def test_blocked_when_a_call_is_in_flight_then_the_row_says_until_when_and_its_end_is_progress(
    table,
):
    owner, rt = table
    row = owner.row("orders")
    before = int(row["progress"])
    with rt.blocked(14.0):
        now = mono_ns()
        assert now < int(row["blocked_until_ns"]) <= now + 14 * S
    assert int(row["blocked_until_ns"]) == 0
    assert int(row["progress"]) == before + 1


def test_blocked_when_the_call_fails_then_the_row_is_cleared_all_the_same(table):
    owner, rt = table
    row = owner.row("orders")
    before = int(row["progress"])
    with pytest.raises(BrokerRetryable):
        with rt.blocked(14.0):
            raise BrokerRetryable("kite cancel_order: read timed out")
    assert int(row["blocked_until_ns"]) == 0
    assert int(row["progress"]) == before + 1


def test_leave_when_the_stage_is_done_then_its_exit_is_a_bounded_wait(table):
    owner, rt = table
    row = owner.row("orders")
    now = mono_ns()
    rt.leave()
    assert int(row["state"]) == st.STOPPED
    assert now + EXIT_BOUND_S * S <= int(row["blocked_until_ns"]) <= mono_ns() + EXIT_BOUND_S * S


def test_a_new_process_claiming_the_row_clears_the_bounded_call_its_predecessor_died_in(table):
    owner, rt = table
    row = owner.row("orders")
    row["blocked_until_ns"] = mono_ns() + 14 * S    # a process SIGKILLed inside a broker call
    rt.claim_row()
    assert int(row["blocked_until_ns"]) == 0 and int(row["state"]) == st.STARTING
    assert int(row["pid"]) == os.getpid()
