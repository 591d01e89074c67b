"""One record directory → one compressed archive with a checksum manifest, written durably and
verified by reading it back (supervision/archive.py decides which directories, and deletes).

    DEST/<name>.tar.gz              every regular file of the directory, paths relative to it
    DEST/<name>.manifest.json       {"record", "source", "created_utc", "archive": {"file", "size",
                                     "sha256"}, "files": [{"path", "size", "sha256"}, ...]}

Both are written to `<file>.partial`, flushed, fsynced, renamed into place and the directory entry
fsynced, so a crash leaves either nothing or a `.partial` (never a final name over a half-written
file). `verify` re-reads the archive from disk and compares every member's size and sha256 with
the manifest, and the archive's own sha256 with the manifest's: any difference, a truncated or
corrupt gzip, a missing or extra member, is an ArchiveError. Symlinks, sockets and other special
files are not archived (they are listed in `skipped` and stay where they are).
"""

import hashlib
import io
import os
import tarfile
import time

import orjson

from common.errors import OTradeError

CHUNK = 1 << 20


class ArchiveError(OTradeError):
    """An archive could not be written, or does not match its manifest."""


def sha256_of(path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a file's bytes."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def list_files(record: str) -> tuple[list[str], list[str]]:
    """(regular files, skipped special files) under `record`, relative paths, sorted; no symlink
    followed."""
    files: list[str] = []
    skipped: list[str] = []
    for root, dirs, names in os.walk(record, followlinks=False):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, record)
            (files if os.path.isfile(path) and not os.path.islink(path) else skipped).append(rel)
    return sorted(files), sorted(skipped)


def paths_of(dest: str, name: str) -> tuple[str, str]:
    return os.path.join(dest, f"{name}.tar.gz"), os.path.join(dest, f"{name}.manifest.json")


def write(record: str, dest: str, name: str) -> dict:
    """Archive `record` into `dest`; returns the manifest (also written). Raises
    ArchiveError/OSError."""
    files, skipped = list_files(record)
    tar_path, manifest_path = paths_of(dest, name)
    entries = []
    partial = tar_path + ".partial"
    with open(partial, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for rel in files:
                entries.append(_add(tar, os.path.join(record, rel), rel))
        raw.flush()
        os.fsync(raw.fileno())
    _publish(partial, tar_path)
    size, digest = sha256_of(tar_path)
    manifest = {"record": name, "source": os.path.abspath(record),
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "archive": {"file": os.path.basename(tar_path), "size": size, "sha256": digest},
                "files": entries, "skipped": skipped}
    partial = manifest_path + ".partial"
    with open(partial, "wb") as f:
        f.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        f.flush()
        os.fsync(f.fileno())
    _publish(partial, manifest_path)
    return manifest


def verify(dest: str, name: str) -> dict:
    """Re-read the archive and its manifest from disk; the manifest if every byte matches."""
    tar_path, manifest_path = paths_of(dest, name)
    try:
        with open(manifest_path, "rb") as f:
            manifest = orjson.loads(f.read())
        expected = {e["path"]: (e["size"], e["sha256"]) for e in manifest["files"]}
        if sha256_of(tar_path) != (manifest["archive"]["size"], manifest["archive"]["sha256"]):
            raise ArchiveError(f"{tar_path}: size or sha256 differs from its manifest")
        found = {}
        with tarfile.open(tar_path, mode="r:gz") as tar:
            for member in tar:
                extracted = tar.extractfile(member) if member.isfile() else None
                data = extracted.read() if extracted is not None else b""
                found[member.name] = (len(data), hashlib.sha256(data).hexdigest())
    except ArchiveError:
        raise
    except (OSError, EOFError, tarfile.TarError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise ArchiveError(f"{tar_path}: unreadable ({type(e).__name__}: {e})") from None
    if found != expected:
        differ = sorted(set(found.items()) ^ set(expected.items()))
        raise ArchiveError(f"{tar_path}: {len(differ)} member(s) differ from the manifest, "
                           f"e.g. {differ[0][0]}")
    return manifest


class _Hashing(io.RawIOBase):
    """A file read through once by tarfile, hashed on the way (no second read, no whole-file
    copy)."""

    def __init__(self, f):
        self._f, self.digest = f, hashlib.sha256()

    def read(self, n=-1):
        data = self._f.read(n)
        self.digest.update(data)
        return data


def _add(tar, path: str, rel: str) -> dict:
    """Add one file; its manifest entry is the hash of exactly the bytes that went into the
    archive."""
    with open(path, "rb") as f:
        stat = os.fstat(f.fileno())
        info = tarfile.TarInfo(rel)
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
        reader = _Hashing(f)
        tar.addfile(info, reader)      # copies exactly info.size bytes (OSError if the file shrank)
    return {"path": rel, "size": info.size, "sha256": reader.digest.hexdigest()}


def _publish(partial: str, final: str) -> None:
    """Rename into place and make the directory entry durable."""
    os.replace(partial, final)
    fd = os.open(os.path.dirname(final) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
