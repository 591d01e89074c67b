"""Suite-wide fixtures. Helpers live in tests/support.py (`from tests.support import
eventually`)."""

import os

import pytest

from tests.support import SHM_DIR, otrade_segments, session_prefix, strict_shm_check


@pytest.fixture(autouse=True)
def no_leaked_shared_memory():
    """Fail a test that leaves a new /dev/shm/otrade_* segment behind, and remove what it left.

    On a developer machine only this session's names (tests.support.unique_segment) count, since
    other runs share /dev/shm; under CI every new otrade_* segment counts.
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


@pytest.fixture(autouse=True)
def private_account_home(tmp_path_factory, monkeypatch):
    """Every test trades its own broker accounts: a supervisor resumes the account's trading day
    from its home (supervision/accountday.py), so a shared home would carry one test's orders
    into the next. Subprocesses inherit it through the environment."""
    if not os.environ.get("OTRADE_KEEP_ACCOUNT_HOME"):
        monkeypatch.setenv("OTRADE_ACCOUNT_HOME", str(tmp_path_factory.mktemp("accounts")))


@pytest.fixture
def ipc_dir():
    """A private directory with a short path for unix and ipc:// sockets (a unix socket path fits
    107 bytes; pytest's tmp_path can be longer)."""
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="otc-", dir="/tmp")
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)
