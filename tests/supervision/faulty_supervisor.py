"""`python supervisor.py` whose run-log writes fail with ENOSPC once the file named by
OTRADE_TEST_FULL_DISK_FLAG exists: a full disk for the supervisor's own log only (issue 12.4)."""

import errno
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from supervision import runlog  # noqa: E402

_FLAG = os.environ["OTRADE_TEST_FULL_DISK_FLAG"]
_write = runlog.RunLog._write


def _full_disk_write(self, data: bytes) -> None:
    if os.path.exists(_FLAG):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
    _write(self, data)


runlog.RunLog._write = _full_disk_write

if __name__ == "__main__":
    import supervisor

    sys.exit(supervisor.main())
