"""The layers of STYLE.md, enforced: common and config import no stage, stages import no other
stage."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
STAGES = ("feed", "signals", "orders", "positions")


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _runtime_walk(tree: ast.AST):
    """ast.walk, less the bodies of `if TYPE_CHECKING:`: an import only the type checker runs (a
    name for an annotation, e.g. common/stage.py's StageContext.config) is no arrow between
    layers."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if _is_type_checking(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in _runtime_walk(tree):
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
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(STAGES)) for p in _files(package)
    }
    assert {f: o for f, o in offenders.items() if o} == {}


def test_config_does_not_import_supervisor_or_benchmarks():
    bad = {
        str(p.relative_to(ROOT))
        for p in _files("config")
        if _imports(p) & {"supervisor", "benchmarks"}
    }
    assert bad == set()


# Packages above the stages: a stage importing one of them is an arrow pointing up.
ABOVE_STAGES = ("reports", "supervision", "localvenue", "backtest", "benchmarks", "supervisor")
FIRST_PARTY = ("common", "config", *STAGES, *ABOVE_STAGES)
@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_never_imports_reports_or_anything_else_above_the_stages(stage):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(ABOVE_STAGES)) for p in _files(stage)
    }
    assert {f: o for f, o in offenders.items() if o} == {}


def test_common_imports_nothing_above_it():
    offenders = {}
    for p in _files("common"):
        above = sorted(_imports(p) & (set(FIRST_PARTY) - {"common"}))
        if above:
            offenders[str(p.relative_to(ROOT))] = above
    assert offenders == {}


def test_supervision_imports_no_stage():
    # The supervisor's engine starts stages by module name and talks to them over shared memory and
    # sockets; it never imports one (supervisor.py, the entry point, names their modules).
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(STAGES)) for p in _files("supervision")
    }
    assert _files("supervision") and {f: o for f, o in offenders.items() if o} == {}


def _package_of(name: str) -> str:
    """The layer node of a dotted module name or a file's path parts joined by dots."""
    return name.split(".")[0]


def _package_graph() -> dict[str, set[str]]:
    """package -> the first-party packages its modules import (function-level imports included)."""
    graph: dict[str, set[str]] = {}
    files = [p for pkg in FIRST_PARTY for p in (_files(pkg) or [ROOT / f"{pkg}.py"]) if p.exists()]
    for p in files:
        rel = p.relative_to(ROOT).with_suffix("")
        src = _package_of(".".join(rel.parts))
        tree = ast.parse(p.read_text(), filename=str(p))
        for node in _runtime_walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                dst = _package_of(name)
                if dst in FIRST_PARTY and dst != src:
                    graph.setdefault(src, set()).add(dst)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle among the packages, [] if there is none (depth-first, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_packages_import_each_other_without_cycles():
    assert _cycle(_package_graph()) == []


def test_cycle_finder_when_two_packages_import_each_other_then_names_the_loop():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) == []


def _module_imports(path: pathlib.Path) -> set[str]:
    """Full dotted names of the first-party modules a file imports."""
    found = set()
    for node in _runtime_walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in FIRST_PARTY}


def test_reports_use_of_a_stage_is_only_the_positions_book():
    # The report replays fills through the positions stage's own book so the two cannot disagree;
    # anything else of a stage (its process, sockets, shared memory) has no business in a report.
    stage_modules = {
        m for p in _files("reports") for m in _module_imports(p) if m.split(".")[0] in STAGES
    }
    assert stage_modules <= {"positions.positionbook"}


# Issue 13.3: the rehearsal exchange is one package above the stages. The supervisor starts a venue
# (localvenue.venue.local_venue) and points the stages at it; a stage reaches it only over loopback,
# as it would the broker. localvenue may import a stage's adapter modules (wire codecs, the paper
# fill model, the LOCAL_* credentials an adapter accepts); never the other way round.
def _names_localvenue(path: pathlib.Path) -> bool:
    """An import of localvenue, or a dotted name of it in a string (importlib, a preload list)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    strings = {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    named = any(s == "localvenue" or s.startswith("localvenue.") for s in strings)
    return named or "localvenue" in _imports(path)


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_never_imports_the_local_venue_even_by_name(stage):
    assert [str(p.relative_to(ROOT)) for p in _files(stage) if _names_localvenue(p)] == []


def test_the_stages_hold_no_rehearsal_exchange_files():
    # The real adapters hold only adapter files: a local server, exchange or feed server belongs in
    # localvenue/ (named for its concept there), not beside the code it imitates.
    strays = [str(p.relative_to(ROOT)) for stage in STAGES for p in _files(stage)
              if p.stem.startswith("local") or "localserver" in p.parts]
    assert strays == []


def test_imports_when_only_the_type_checker_runs_them_then_are_not_arrows(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nimport common.clock\n"
                      "if TYPE_CHECKING:\n    from config.schema import Config\n"
                      "else:\n    import feed\n")
    assert _imports(module) == {"typing", "common", "feed"}
