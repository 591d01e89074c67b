"""common.tradingstate.TradingState is the one spelling of the trading states (issue 13.2): codes as
the control row, the orders stage counter and the risk kernel hold them, names as messages and
journals hold them. Both are frozen, and no other module spells the states its own way."""

import ast
import pathlib

import msgspec
import pytest

from common.messages import TradingStateChanged
from common.tradingstate import NAMES, TradingState, effective, name_of, write_state
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


@pytest.mark.parametrize("control, orders, want", [(0, 0, (0, "supervisor")),
                                                   (2, 1, (2, "supervisor")),
                                                   (0, 2, (2, "orders"))])
def test_tradingstate_effective_when_two_states_then_the_worse_code_wins(tmp_path, control,
                                                                         orders, want):
    write_state(str(tmp_path), "HALTED", "loss")
    code, by, _ = effective(control, orders, str(tmp_path))
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
