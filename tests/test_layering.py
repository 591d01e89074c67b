"""The layers of STYLE.md, enforced: common and config import no stage, stages import no other stage."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
STAGES = ("feed", "signals", "orders", "positions")


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _files(package: str):
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_never_imports_another_stage(stage):
    others = set(STAGES) - {stage}
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & others) for p in _files(stage)}
    assert {f: o for f, o in offenders.items() if o} == {}


@pytest.mark.parametrize("package", ["common", "config"])
def test_common_and_config_import_no_stage(package):
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & set(STAGES)) for p in _files(package)}
    assert {f: o for f, o in offenders.items() if o} == {}


def test_config_does_not_import_supervisor_or_benchmarks():
    bad = {str(p.relative_to(ROOT)) for p in _files("config") if _imports(p) & {"supervisor", "benchmarks"}}
    assert bad == set()
