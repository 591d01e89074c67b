"""common.tradingstate.TradingState is the one spelling of the trading states (issue 13.2): codes as
the control row, the orders stage counter and the risk kernel hold them, names as messages and
journals hold them. Both are frozen, and no other module spells the states its own way."""

import ast
import pathlib
import signal
import subprocess
import sys
import time

import msgspec
import pytest

from common.messages import TradingStateChanged
from common.tradingstate import (
    NAMES,
    TradingState,
    effective,
    name_of,
    read_state,
    write_state,
)
from orders.risk import _code_of

ROOT = pathlib.Path(__file__).resolve().parents[2]
STATE_WORDS = set(NAMES)


def test_tradingstate_codes_and_names_are_those_shm_rows_and_journals_already_hold():
    # Codes: what earlier supervisors/orders wrote to shared memory; names: what earlier journals
    # hold. Changing either breaks a restart on an existing run dir.
    assert [(s.name, int(s)) for s in TradingState] == [("ACTIVE", 0), ("REDUCING", 1),
                                                          ("HALTED", 2)]
    assert NAMES == ("ACTIVE", "REDUCING", "HALTED")


def test_tradingstate_when_an_earlier_journal_line_is_decoded_then_its_name_is_a_state():
    line = b'{"ts_event_ns":5,"state":"HALTED","reason":"daily loss limit"}'
    msg = msgspec.json.decode(line, type=TradingStateChanged)
    assert TradingState[msg.state] is TradingState.HALTED


def test_tradingstate_when_a_code_is_unknown_then_status_shows_the_raw_code():
    assert name_of(2) == "HALTED" and name_of(0) == "ACTIVE"
    assert name_of(7) == "7"


def test_tradingstate_when_the_name_is_not_a_state_then_the_risk_kernel_judges_halted():
    assert _code_of("REDUCING") == 1
    assert _code_of("ACTIV") == int(TradingState.HALTED)


@pytest.mark.parametrize("control, orders, want", [(0, "ACTIVE", (0, "supervisor")),
                                                   (2, "REDUCING", (2, "supervisor")),
                                                   (0, "HALTED", (2, "orders"))])
def test_tradingstate_effective_when_two_states_then_the_worse_code_wins(tmp_path, control,
                                                                         orders, want):
    write_state(str(tmp_path), orders, "loss")
    code, by, _ = effective(control, str(tmp_path))
    assert (code, by) == want


def _own_spellings(path: pathlib.Path) -> list[str]:
    """Module-level assignments that spell the states again: a name ACTIVE/REDUCING/HALTED (or
    STATE_*) bound to a constant, or a literal collection of two or more state names."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.Assign):
            continue
        names = [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        if any(n.removeprefix("STATE_") in STATE_WORDS for n in names):
            found.append(f"{path.relative_to(ROOT)}: {names}")
            continue
        words = {c.value for c in ast.walk(node.value)
                 if isinstance(c, ast.Constant) and c.value in STATE_WORDS}
        if len(words) >= 2:
            found.append(f"{path.relative_to(ROOT)}: {names}")
    return found


def test_tradingstate_when_any_module_spells_the_states_again_then_it_is_named():
    skip = {".venv", ".git", "otrade.egg-info", "runs"}
    found = [hit for p in sorted(ROOT.rglob("*.py"))
             if not skip & set(p.relative_to(ROOT).parts)
             for hit in _own_spellings(p)]
    assert found == []


WRITER = """
import sys
from common.tradingstate import write_state
n = 0
while True:
    n += 1
    state = ("HALTED", "ACTIVE")[n % 2]
    write_state(sys.argv[1], state, f"{state.lower()}-{n}", n, n)
"""


def _one_pair(run_dir: str) -> dict:
    """The record, checked: its reason is the one written with its state (and acknowledgement);
    the status, reading it again, shows HALTED only with a halt's reason."""
    record = read_state(run_dir)
    if record:
        assert record["reason"] == f"{record['state'].lower()}-{record['command_ns']}", record
    code, by, reason = effective(0, run_dir)
    assert (code, by, reason[:7]) in ((2, "orders", "halted-"), (0, "supervisor", "")), reason
    return record


def test_tradingstate_when_orders_is_killed_while_writing_then_state_and_reason_stay_one_pair(
        tmp_path):
    """Issue 13: the state and its reason are one record, replaced by rename. However often the
    writer is read and wherever it is SIGKILLed, state and reason belong together."""
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 30
        reads = 0
        while (len(seen - {""}) < 2 or reads < 2000) and time.monotonic() < deadline:
            seen.add(_one_pair(str(tmp_path)).get("state", ""))
            reads += 1
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert {"HALTED", "ACTIVE"} <= seen, seen
    assert _one_pair(str(tmp_path))["state"] in ("HALTED", "ACTIVE")
