"""write_atomic (positions.json): old or new content, never half; synced before the rename;
private."""

import errno
import os
import threading

import pytest

import common.atomicfile as atomicfile
from common.atomicfile import write_atomic

OLD, NEW = b'{"qty": 1}' * 50_000, b'{"qty": 2}' * 60_000    # large enough to take several writes


def leftovers(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name != "positions.json")


def test_write_atomic_when_the_write_fails_midway_then_the_old_file_is_intact_and_no_temp_is_left(
        tmp_path, monkeypatch):
    path = tmp_path / "positions.json"
    write_atomic(str(path), OLD)
    real_write, calls = os.write, []

    def disk_fills_up(fd, data):
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        # a short write first, then the disk is full
        return real_write(fd, bytes(data)[:1000])
    monkeypatch.setattr(atomicfile.os, "write", disk_fills_up)
    with pytest.raises(OSError):
        write_atomic(str(path), NEW)
    assert path.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_write_atomic_when_durable_then_syncs_the_data_before_the_rename_and_the_directory_after(
        tmp_path, monkeypatch):
    path, steps = tmp_path / "positions.json", []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomicfile.os, "fsync", lambda fd: (steps.append(
        "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"), real_fsync(fd)))
    monkeypatch.setattr(
        atomicfile.os, "replace", lambda a, b: (steps.append("rename"), real_replace(a, b))
    )
    write_atomic(str(path), NEW)
    assert steps == ["file", "rename", "dir"]
    steps.clear()
    write_atomic(str(path), OLD, durable=False)
    assert steps == ["rename"]
    assert path.read_bytes() == OLD


def test_write_atomic_when_a_reader_polls_during_rewrites_then_it_sees_only_whole_documents(
    tmp_path,
):
    path = tmp_path / "positions.json"
    write_atomic(str(path), OLD)
    seen, stop = set(), threading.Event()

    def read_forever():
        while not stop.is_set():
            with open(path, "rb") as f:
                seen.add(len(f.read()))
    reader = threading.Thread(target=read_forever)
    reader.start()
    try:
        for i in range(60):
            write_atomic(str(path), NEW if i % 2 == 0 else OLD, durable=False)
    finally:
        stop.set()
        reader.join(10)
    assert seen <= {len(OLD), len(NEW)}
    assert leftovers(tmp_path) == []


def test_write_atomic_creates_the_file_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "positions.json"
    write_atomic(str(path), NEW)
    assert os.stat(path).st_mode & 0o777 == 0o600
