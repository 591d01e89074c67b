"""A full disk never takes the supervisor's judgement (issue 12.4): when its run log cannot be
written it halts trading, stops every stage through the ladder and exits 4 with the cause on
stderr."""

import os
import shutil
import signal
import subprocess

import pytest

from tests.chaos.harness import alive
from tests.support import eventually
from tests.supervision.running import FAULTS, RunningPipeline

pytestmark = pytest.mark.slow
EXIT_LOG_FAILED = 4


def _assert_stopped_cleanly(p, children):
    eventually(lambda: not alive(children), timeout=10, message=f"no stage left of {children}")
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_supervisor_when_its_run_log_write_fails_then_it_halts_stops_every_stage_and_exits_4(
    tmp_path,
):
    flag = tmp_path / "disk-full"
    with RunningPipeline(
        tmp_path, script=FAULTS, env={"OTRADE_TEST_FULL_DISK_FLAG": str(flag)}
    ) as p:
        p.wait_running()
        # once all are READY a spare is parked for each (supervision/spare.py), then all is quiet
        eventually(lambda: sum(e["kind"] == "spare" for e in p.events()) == 4, timeout=30,
                   message="a spare parked for every stage")
        children = p.descendants()
        before = p.events()
        flag.write_text("")
        victim = p.stage("signals")["pid"]
        os.kill(victim, signal.SIGKILL)            # its exit is the event that cannot be written
        code = p.wait_exit(timeout=60)
    assert code == EXIT_LOG_FAILED, p.output()[-3000:]
    _assert_stopped_cleanly(p, children)
    out = p.output()
    assert "No space left on device" in out
    after = [e["kind"] for e in p.events()[len(before):]]
    assert after == [], f"events were written after the failure: {after}"


def _mount_tiny_tmpfs(where, size="48m") -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
    )
    return done.returncode == 0


def _fill(where) -> None:
    """Fill the filesystem at `where` to the last byte (unbuffered: every write meets the disk)."""
    fd = os.open(where / "ballast", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_supervisor_when_its_run_dir_filesystem_fills_up_then_it_halts_stops_every_stage_and_exits_4(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    mnt = tmp_path / "tiny"
    if not _mount_tiny_tmpfs(mnt):
        pytest.skip("needs root and a mountable tmpfs")
    try:
        with RunningPipeline(tmp_path, run_dir=mnt / "run") as p:
            p.wait_running()
            children = p.descendants()
            _fill(mnt)
            os.kill(p.stage("positions")["pid"], signal.SIGKILL)
            code = p.wait_exit(timeout=60)
        assert code == EXIT_LOG_FAILED, p.output()[-3000:]
        _assert_stopped_cleanly(p, children)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
