"""SIGKILL the signals process at random moments: the journal ends with exactly the undisturbed
intents.

The child (tests/signals/fake_stage.py) runs the stage loop over real shared-memory segments. The
test kills it as its cursor passes random points, restarts it, and at the end compares what it
journaled (deduplicated by intent id, as orders does) and the state segment with an undisturbed
in-process run.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest

from common.shm import create_segment, segment_name
from signals.layout import segment_sizes
from tests.signals.fake_stage import CURSOR_SEGMENT, scenario
from tests.signals.synthetic import make_engine, run_batches
from tests.support import eventually, unique_run_id

ROOT = Path(__file__).resolve().parents[2]
KILLS = 6


def _spawn(run_id, journal):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.signals.fake_stage", run_id, str(journal)],
        cwd=ROOT,
        env={**os.environ, "NUMBA_DISABLE_JIT": "0"},
    )


def _journaled(journal: Path) -> list[dict]:
    """Complete lines only (a killed process may leave half of one), first occurrence of each id."""
    seen, out = set(), []
    for line in journal.read_bytes().split(b"\n"):
        try:
            fields = msgspec.json.decode(line)
        except msgspec.DecodeError:
            continue
        if fields["intent_id"] not in seen:
            seen.add(fields["intent_id"])
            out.append(fields)
    return out


@pytest.mark.slow
def test_killing_the_signals_process_anywhere_loses_no_intent_and_applies_no_tick_twice(tmp_path):
    config, rows = scenario()
    engine, undisturbed = make_engine(config)
    expected = run_batches(engine, rows, 16)
    run_id, journal = unique_run_id(), tmp_path / "signals.jsonl"
    sizes = {**segment_sizes(config), CURSOR_SEGMENT: 64}
    segments = {
        what: create_segment(segment_name(run_id, what), size) for what, size in sizes.items()
    }
    cursor = np.ndarray((1,), np.int64, segments[CURSOR_SEGMENT].buf, 0)
    rng = np.random.default_rng(1)
    child = None
    try:
        kills = 0
        for point in sorted(rng.integers(len(rows) // 10, len(rows) * 9 // 10, KILLS)):
            child = _spawn(run_id, journal)
            # The lambda runs before the finally's `del cursor`; pyflakes sees only the del.
            eventually(lambda: cursor[0] >= point or child.poll() is not None,  # noqa: F821
                       timeout=60,
                       message=f"child passes tick {point}")
            child.send_signal(signal.SIGKILL)
            kills += child.wait(timeout=10) == -signal.SIGKILL
        assert kills >= KILLS - 1, "the child finished before it could be killed"
        child = _spawn(run_id, journal)
        assert child.wait(timeout=120) == 0
        assert cursor[0] == len(rows)
        assert _journaled(journal) == expected
        assert bytes(segments["signals_state"].buf) == undisturbed.state.tobytes()
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        del cursor
        for segment in segments.values():
            segment.unlink()
            segment.close()
