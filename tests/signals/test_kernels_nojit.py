"""The signals tests again with NUMBA_DISABLE_JIT=1: kernels are plain Python, checked the same way.

Under the JIT a kernel bug can hide in typing or in code the interpreter would reject; without it
the same assertions run on the Python semantics. The run is a subprocess because numba reads the
variable at import time.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from numba import config as numba_config

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# Not re-run: this file (it would recurse) and the kill test (real processes, nothing
# numba-specific).
SKIP = ("test_kernels_nojit.py", "test_crash_kill.py")


@pytest.mark.skipif(numba_config.DISABLE_JIT, reason="already running without the JIT")
def test_signals_tests_pass_with_numba_jit_disabled():
    files = sorted(str(p.relative_to(ROOT)) for p in HERE.glob("test_*.py") if p.name not in SKIP)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
