"""`python -m supervisor archive --older-than 30d DEST` (supervision/archive.py): old run
records go into a verified tar.gz with a sha256 manifest, and originals are deleted only after the
archive was written, fsynced and re-read; a corrupt or partial archive never deletes anything."""

import fcntl
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time

import orjson

from supervision import archive, archivefile

NOW = time.mktime(time.strptime("20261207-120000", "%Y%m%d-%H%M%S"))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_run(runs, name, journal=b'{"seq":1,"kind":"OrderSubmitting"}\n'):
    run = runs / name
    (run / "journals").mkdir(parents=True)
    (run / "journals" / "orders.jsonl").write_bytes(journal)
    (run / "summary.json").write_bytes(b'{"orders": 1}')
    return run


def archive_runs(tmp_path, *extra) -> tuple[int, str]:
    out = io.StringIO()
    code = archive.archive_main(["--older-than", "30d", "--source", str(tmp_path / "runs"), *extra,
                                 str(tmp_path / "dest")], now=NOW, out=out)
    return code, out.getvalue()


def test_archive_when_run_is_older_than_cutoff_then_archive_verifies_and_originals_are_removed(
    tmp_path,
):
    run = make_run(tmp_path / "runs", "20261001-091500")
    code, out = archive_runs(tmp_path)
    assert code == 0, out
    assert not run.exists()
    dest = tmp_path / "dest" / "runs"
    manifest = archivefile.verify(str(dest), "20261001-091500")     # re-read: every byte matches
    by_path = {e["path"]: e for e in manifest["files"]}
    assert set(by_path) == {"journals/orders.jsonl", "summary.json"}
    with tarfile.open(dest / "20261001-091500.tar.gz") as tar:
        assert (
            tar.extractfile("journals/orders.jsonl").read()
            == b'{"seq":1,"kind":"OrderSubmitting"}\n'
        )


def test_archive_when_run_is_newer_than_cutoff_by_its_name_then_it_is_left_alone(tmp_path):
    young = make_run(tmp_path / "runs", "20261120-091500")          # 17 days before NOW
    old = make_run(tmp_path / "runs", "20261105-091500")            # 32 days
    code, out = archive_runs(tmp_path)
    assert code == 0, out
    assert young.exists() and not old.exists()


def test_archive_when_name_is_not_a_date_then_newest_file_time_decides(tmp_path):
    named = make_run(tmp_path / "runs", "rehearsal")
    code, _ = archive_runs(tmp_path)
    assert code == 0 and named.exists()                             # just written: young
    stale = NOW - 40 * 86_400
    for path in (named / "summary.json", named / "journals" / "orders.jsonl"):
        os.utime(path, (stale, stale))
    os.utime(named / "journals", (stale, stale))
    os.utime(named, (stale, stale))
    code, out = archive_runs(tmp_path)
    assert code == 0 and not named.exists(), out


def test_archive_when_existing_archive_is_corrupt_then_originals_are_kept_and_exit_1(tmp_path):
    run = make_run(tmp_path / "runs", "20261001-091500")
    dest = tmp_path / "dest" / "runs"
    dest.mkdir(parents=True)
    # a crashed earlier run
    (dest / "20261001-091500.tar.gz").write_bytes(b"\x1f\x8b\x08 half a gzip")
    code, out = archive_runs(tmp_path)
    assert code == 1 and "NOT archived" in out
    assert (run / "journals" / "orders.jsonl").exists() and (run / "summary.json").exists()


def test_archive_when_written_archive_is_damaged_before_verification_then_nothing_is_deleted(
    tmp_path, monkeypatch
):
    run = make_run(tmp_path / "runs", "20261001-091500", journal=b"x" * 100_000)
    real_write = archivefile.write

    def write_then_truncate(record, dest, name):
        manifest = real_write(record, dest, name)
        tar_path, _ = archivefile.paths_of(dest, name)
        with open(tar_path, "r+b") as f:
            f.truncate(os.path.getsize(tar_path) // 2)                  # a torn write
        return manifest

    monkeypatch.setattr(archivefile, "write", write_then_truncate)
    code, out = archive_runs(tmp_path)
    assert code == 1 and "differs from its manifest" in out
    assert (run / "journals" / "orders.jsonl").read_bytes() == b"x" * 100_000


def test_archive_when_a_file_changed_after_archiving_then_that_file_is_kept(tmp_path, monkeypatch):
    run = make_run(tmp_path / "runs", "20261001-091500")
    real_verify = archivefile.verify

    def verify_then_append(dest, name):
        manifest = real_verify(dest, name)
        with open(run / "journals" / "orders.jsonl", "ab") as f:
            f.write(b'{"seq":2}\n')                                  # a late append
        return manifest

    monkeypatch.setattr(archivefile, "verify", verify_then_append)
    code, out = archive_runs(tmp_path)
    assert code == 1 and "differ from the archive" in out
    assert (run / "journals" / "orders.jsonl").read_bytes().endswith(b'{"seq":2}\n')
    # unchanged: archived and removed
    assert not (run / "summary.json").exists()


def test_archive_when_a_supervisor_holds_the_run_lock_then_it_is_skipped(tmp_path):
    run = make_run(tmp_path / "runs", "20261001-091500")
    fd = os.open(run / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, out = archive_runs(tmp_path)
    finally:
        os.close(fd)
    assert code == 0 and "skipped" in out and (run / "summary.json").exists()


def test_archive_dry_run_lists_and_touches_nothing(tmp_path):
    run = make_run(tmp_path / "runs", "20261001-091500")
    code, out = archive_runs(tmp_path, "--dry-run")
    assert code == 0 and "would archive" in out and run.exists()
    assert not (tmp_path / "dest").exists()


def test_archive_command_through_supervisor_entry_point_refuses_a_bad_age(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisor",
            "archive",
            "--older-than",
            "soon",
            str(tmp_path / "dest"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "30d" in result.stderr


def test_archive_manifest_lists_sha256_per_file(tmp_path):
    make_run(tmp_path / "runs", "20261001-091500")
    archive_runs(tmp_path)
    doc = orjson.loads((tmp_path / "dest" / "runs" / "20261001-091500.manifest.json").read_bytes())
    entry = next(e for e in doc["files"] if e["path"] == "summary.json")
    assert entry["sha256"] == hashlib.sha256(b'{"orders": 1}').hexdigest() and entry["size"] == 13


def test_archive_when_dest_lies_under_the_source_then_the_archives_are_never_archived(tmp_path):
    make_run(tmp_path / "runs", "20261001-091500")
    dest = tmp_path / "runs" / "archive"
    out = io.StringIO()
    later = NOW + 60 * 86_400                                        # DEST itself is old by then
    for now in (NOW, later):
        code = archive.archive_main(
            ["--older-than", "30d", "--source", str(tmp_path / "runs"), str(dest)], now=now, out=out
        )
        assert code == 0, out.getvalue()
    assert (dest / "runs" / "20261001-091500.tar.gz").exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["archive"]
