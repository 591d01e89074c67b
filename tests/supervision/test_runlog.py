"""RunLog never raises on a failed write (issue 12.4): it keeps the first failure for the
supervisor."""

import errno
import os

from supervision.runlog import RunLog


def test_runlog_when_a_write_fails_with_enospc_then_event_returns_and_the_failure_is_kept(tmp_path):
    log = RunLog(str(tmp_path / "supervisor.jsonl"))
    log.event("spawn", "feed", pid=1)

    def full(data):
        raise OSError(errno.ENOSPC, "No space left on device")

    log._write = full
    log.event("exit", "feed", pid=1)
    log.event("restart", "feed")
    log.close()
    assert log.failure.errno == errno.ENOSPC and log.lost == 2
    assert (tmp_path / "supervisor.jsonl").read_text().count("\n") == 1


def test_runlog_when_created_then_the_file_is_private(tmp_path):
    old = os.umask(0)
    try:
        log = RunLog(str(tmp_path / "supervisor.jsonl"))
    finally:
        os.umask(old)
    log.close()
    assert os.stat(tmp_path / "supervisor.jsonl").st_mode & 0o777 == 0o600
