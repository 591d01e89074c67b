"""The run registry trusts only itself (issue 12.5): a private directory, records of ours, exact
names."""

import os
import socket
import subprocess
import sys

import orjson
import pytest

from supervision import registry
from tests.support import unique_run_id

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")


@pytest.fixture
def reg(tmp_path, monkeypatch):
    path = tmp_path / "registry"
    monkeypatch.setenv("OTRADE_REGISTRY_DIR", str(path))
    return path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant(reg, run_id, **fields):
    registry.registry_dir()
    doc = {"run_id": run_id, "pid": dead_pid(), "create_time": 1.0, **fields}
    (reg / f"{run_id}.json").write_bytes(orjson.dumps(doc))


def make_segment(name: str) -> str:
    path = os.path.join("/dev/shm", name)
    with open(path, "wb") as f:
        f.write(b"\0" * 64)
    return path


def test_registry_when_created_then_it_is_a_0700_directory_of_ours(reg):
    registry.registry_dir()
    st = os.lstat(reg)
    assert st.st_mode & 0o777 == 0o700 and st.st_uid == os.geteuid()


def test_registry_when_a_record_points_at_an_arbitrary_directory_then_nothing_in_it_is_deleted(
    reg, tmp_path
):
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "data.txt").write_text("keep me")
    plant(reg, "planted", ipc_dir=str(victim), ipc_sockets=["data.txt", "../precious"],
          segments=["../../etc/passwd", "notours"], segment_prefix="otrade_")
    swept = registry.sweep_dead_runs()
    assert (victim / "data.txt").read_text() == "keep me"
    assert swept == [{"run_id": "planted", "pid": swept[0]["pid"], "segments": [], "sockets": []}]


def test_registry_when_dead_run_a_is_swept_then_live_run_a_b_keeps_its_segments_and_sockets(
    reg, tmp_path
):
    a, a_b = unique_run_id().replace("-", ""), None
    a_b = f"{a}_b"
    dead_seg, live_seg = make_segment(f"otrade_{a}_ticks"), make_segment(f"otrade_{a_b}_ticks")
    ipc_a, ipc_ab = tmp_path / "ipc_a", tmp_path / "ipc_ab"
    ipc_a.mkdir()
    ipc_ab.mkdir()
    sock_a, sock_ab = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
    try:
        sock_a.bind(str(ipc_a / "orders.cmd"))
        sock_ab.bind(str(ipc_ab / "orders.cmd"))
        # live: this process
        registry.register(a_b, [f"otrade_{a_b}_ticks"], str(ipc_ab), ["orders.cmd"])
        plant(
            reg, a, segments=[f"otrade_{a}_ticks"], ipc_dir=str(ipc_a), ipc_sockets=["orders.cmd"]
        )
        swept = registry.sweep_dead_runs()
        assert [s["run_id"] for s in swept] == [a]
        assert swept[0]["segments"] == [f"otrade_{a}_ticks"] and swept[0]["sockets"] == [
            "orders.cmd"
        ]
        assert not os.path.exists(dead_seg) and not ipc_a.exists()
        assert os.path.exists(live_seg) and (ipc_ab / "orders.cmd").exists()
        assert (reg / f"{a_b}.json").exists()
    finally:
        sock_a.close()
        sock_ab.close()
        registry.unregister(a_b)
        for path in (dead_seg, live_seg):
            if os.path.exists(path):
                os.unlink(path)


def test_registry_when_a_live_pid_was_recycled_then_the_record_is_treated_as_dead(reg):
    # our pid, another process's start time
    plant(reg, "recycled", pid=os.getpid(), create_time=12.0)
    assert [s["run_id"] for s in registry.sweep_dead_runs()] == ["recycled"]


def test_registry_when_the_directory_is_a_symlink_then_it_is_refused(reg, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    os.symlink(target, reg)
    with pytest.raises(registry.RegistryError, match="symlink"):
        registry.sweep_dead_runs()


def test_registry_when_the_directory_has_a_loose_mode_then_it_is_made_private(reg):
    reg.mkdir(mode=0o777)
    os.chmod(reg, 0o777)
    registry.registry_dir()
    assert os.lstat(reg).st_mode & 0o777 == 0o700


@needs_root
def test_registry_when_the_directory_belongs_to_another_user_then_it_is_refused(reg):
    reg.mkdir(mode=0o700)
    os.chown(reg, 54321, 54321)
    with pytest.raises(registry.RegistryError, match="uid 54321"):
        registry.sweep_dead_runs()


@needs_root
def test_registry_when_a_record_belongs_to_another_user_then_it_is_neither_used_nor_deleted(reg):
    seg = make_segment(f"otrade_{unique_run_id()}_ticks")
    try:
        plant(reg, "foreign", segments=[os.path.basename(seg)])
        os.chown(reg / "foreign.json", 54321, 54321)
        assert registry.sweep_dead_runs() == []
        assert os.path.exists(seg) and (reg / "foreign.json").exists()
    finally:
        os.unlink(seg)


def test_registry_when_a_record_is_a_symlink_then_it_is_not_followed(reg, tmp_path):
    registry.registry_dir()
    outside = tmp_path / "outside.json"
    outside.write_bytes(orjson.dumps({"run_id": "x", "pid": dead_pid(), "ipc_dir": str(tmp_path)}))
    os.symlink(outside, reg / "x.json")
    assert registry.sweep_dead_runs() == []
    assert outside.exists()
