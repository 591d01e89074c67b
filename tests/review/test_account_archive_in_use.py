"""Review of the account home (issue 11.1) with the archive (issue 16.3): `python -m supervisor
archive` is told to take account homes as sources too, but it judged a record "in use" only by a
held `supervisor.lock` inside it. An account's days and the account dir itself are locked by the
parent's `account.lock` (supervision/instancelock.py): a quiet running supervisor (no tick
for longer than --older-than, outside market hours) had today's journals archived and deleted under
it, its orders stage then writing to unlinked files.
"""

import fcntl
import os
import time

import pytest

from supervision import archive
from supervision.instancelock import ACCOUNT_LOCK


@pytest.fixture
def account(tmp_path):
    """<home>/paper-default with a day whose journal was last written two days ago, and the
    account's lock held (as a running supervisor holds it)."""
    acct = tmp_path / "home" / "paper-default"
    day = acct / "2026-12-07"
    day.mkdir(parents=True)
    journal = day / "orders.jsonl"
    journal.write_text('{"type":"TicksProcessed"}\n')
    old = time.time() - 2 * 86_400
    for p in (journal, day):
        os.utime(p, (old, old))
    fd = os.open(acct / ACCOUNT_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.utime(acct / ACCOUNT_LOCK, (old, old))
    os.utime(acct, (old, old))
    yield acct, journal
    os.close(fd)


def test_archive_when_the_account_is_locked_then_its_days_are_skipped(account, tmp_path):
    acct, journal = account
    code = archive.run([str(acct)], str(tmp_path / "dest"), 86_400, now=time.time())
    assert code == 0
    assert journal.exists(), "a day of an account a live supervisor holds was archived and deleted"


def test_archive_when_the_account_is_locked_then_the_account_dir_is_skipped(account, tmp_path):
    acct, journal = account
    code = archive.run([str(acct.parent)], str(tmp_path / "dest"), 86_400, now=time.time())
    assert code == 0
    assert journal.exists() and (acct / ACCOUNT_LOCK).exists()
