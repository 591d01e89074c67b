"""`run.gc`: what each mode does to a process's collector, and that the config takes only those
modes.

The modes change process-wide state that cannot be undone cleanly, so they are applied in a child
interpreter that has frozen a heap first, as the supervisor's forkserver does.
"""

import subprocess
import sys

import orjson
import pytest

from common import gcpolicy
from common.errors import ConfigError
from config.loader import load_config

CHILD = """
import gc, sys, orjson
from common import gcpolicy
keep = [[i] for i in range(20_000)]        # a heap, frozen as the forkserver freezes its imports
gc.collect(); gc.freeze()
made_after = [[i] for i in range(5_000)]    # what the stage allocated during start()
gcpolicy.apply(sys.argv[1])
print(orjson.dumps(gcpolicy.describe()).decode())
"""


def _apply_in_child(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, check=True, timeout=60
    )
    return orjson.loads(out.stdout)


def test_frozen_mode_freezes_what_start_allocated_and_sets_its_thresholds():
    state = _apply_in_child("frozen")
    assert state["enabled"]
    assert state["thresholds"] == list(gcpolicy.FROZEN_THRESHOLDS)
    assert state["frozen"] >= 25_000               # the forkserver's heap and the stage's own
    assert state["counts"][0] < 100                # the young generation starts empty


def test_default_mode_is_plain_cpython_with_nothing_frozen():
    state = _apply_in_child("default")
    assert state["enabled"]
    assert state["thresholds"] == list(gcpolicy.PYTHON_THRESHOLDS)
    assert state["frozen"] == 0


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="frozen"):
        gcpolicy.apply("off")


def test_config_defaults_to_frozen_and_names_the_field_of_a_bad_mode():
    assert load_config(None, dotenv_path=None).config.run.gc == "frozen"
    assert (
        load_config(None, dotenv_path=None, overrides={"run": {"gc": "default"}}).config.run.gc
        == "default"
    )
    with pytest.raises(ConfigError, match=r"run\.gc"):
        load_config(None, dotenv_path=None, overrides={"run": {"gc": "off"}})
