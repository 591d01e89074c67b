"""The shared vocabulary holds only words someone uses: a public name defined in common/'s
vocabulary modules and used nowhere (product or tests) is dead weight a newcomer has to read
around."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
VOCABULARY = ("common/topics.py", "common/messages.py", "common/errors.py", "common/dtypes.py",
              "common/clock.py")
# Kept unused on purpose, each with the reason; the last test fails once a name here is used, so the
# list only ever shrinks. Empty: the supervisor's lifecycle names (supervisor_topic, PUB_SUPERVISOR,
# SUPERVISOR_EVENT_KINDS) that waited here are used by supervision/events.py and runlog.py.
WAITING: dict[str, str] = {}


def _public_names(path: pathlib.Path) -> list[str]:
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_")]


def _words() -> dict[pathlib.Path, set[str]]:
    """The identifiers in every Python file but this one (whose lists name the names it looks
    for)."""
    skip = {".venv", ".git", "otrade.egg-info", "runs"}
    here = pathlib.Path(__file__).resolve()
    return {p: set(re.findall(r"\w+", p.read_text())) for p in ROOT.rglob("*.py")
            if p != here and not skip & set(p.relative_to(ROOT).parts)}


def _unused() -> dict[str, list[str]]:
    """module -> its public names that no other file mentions and it mentions only once."""
    words = _words()
    found = {}
    for module in VOCABULARY:
        own = ROOT / module
        text = own.read_text()
        elsewhere = set().union(*(w for path, w in words.items() if path != own))
        dead = [name for name in _public_names(own)
                if name not in elsewhere and len(re.findall(rf"\b{re.escape(name)}\b", text)) <= 1]
        if dead:
            found[module] = dead
    return found


def test_vocabulary_when_a_public_name_is_defined_then_something_uses_it():
    unused = {m: [n for n in names if n not in WAITING] for m, names in _unused().items()}
    assert {m: names for m, names in unused.items() if names} == {}


def test_vocabulary_kept_for_later_is_still_unused():
    still_unused = {n for names in _unused().values() for n in names}
    assert sorted(set(WAITING) - still_unused) == []
