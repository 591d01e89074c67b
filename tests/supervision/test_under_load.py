"""No false hang kills under load (issue 12.9): a fresh clone (empty numba cache) on a machine whose
cores are all kept busy by CPU burners runs to its end with exit 0, and no stage is killed as hung.

Before the fix, the feed compiled RingWriter._publish on its first publish, 2-3 s under load, and
was killed as hung before numba's cache was written, on every restart (exit 3 "gave up on feed").
Slow: the empty cache makes the forkserver compile every kernel (~25 s on an idle 2-core box).
"""

import os
import subprocess
import sys

import pytest

from tests.chaos.harness import Pipeline

pytestmark = pytest.mark.slow

BURN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def busy_cores():
    """One CPU burner per core, each bounded in time and killed at the end of the test."""
    burners = [
        subprocess.Popen([sys.executable, "-c", BURN.format(limit=300)])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield burners
    finally:
        for b in burners:
            b.kill()
            b.wait(timeout=10)


def test_a_fresh_clone_when_every_core_is_busy_then_the_run_ends_normally_with_no_hang_kill(
    tmp_path, monkeypatch, busy_cores
):
    # empty: everything compiles
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba-cache"))
    with Pipeline(tmp_path, args=["--duration", "6"]) as p:
        code = p.wait_exit(timeout=300)
    assert all(b.poll() is None for b in busy_cores), (
        "a burner ended early: the cores were not kept busy"
    )
    assert code == 0, p.output()[-3000:]
    bad = [e for e in p.events() if e["kind"] in ("hang", "not_ready", "restart", "give_up")]
    assert bad == [], bad
    assert [e["stage"] for e in p.events() if e["kind"] == "ready"] == [
        "positions",
        "orders",
        "signals",
        "feed",
    ]
