"""Suite-wide fixtures. Helpers live in tests/support.py (`from tests.support import eventually`)."""

import os

import pytest

from tests.support import SHM_DIR, otrade_segments, session_prefix, strict_shm_check


@pytest.fixture(autouse=True)
def no_leaked_shared_memory():
    """Fail a test that leaves a new /dev/shm/otrade_* segment behind, and remove what it left.

    On a developer machine only this session's names (tests.support.unique_segment) count, since other
    runs share /dev/shm; under CI every new otrade_* segment counts.
    """
    before = otrade_segments()
    yield
    new = otrade_segments() - before
    leaked = sorted(n for n in new if strict_shm_check() or n.startswith(session_prefix()))
    for name in leaked:
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except FileNotFoundError:
            pass
    if leaked:
        pytest.fail(f"test left shared-memory segments behind: {leaked}")
