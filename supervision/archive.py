"""`python -m supervisor archive --older-than 30d DEST [--source DIR ...]`: the audit-trail
retention.

Journals are the record of every order decision (SEBI's retail-algo framework has the broker keep a
five-year audit trail; OTrade's own journals are the trader's). This command moves old records out
of the way without ever losing one:

1. A record is a directory directly under a source (default `runs`; pass account homes with more
   `--source`). Its date is the run's start in its name (`YYYYmmdd-HHMMSS`, local time, as
   supervisor.py names run dirs) or, for any other name, the newest modification time in it. Only
   records older than `--older-than` (`30d`, `12h`) are archived; one whose `supervisor.lock` is
   held by a live supervisor is skipped.
2. Every regular file of the record goes into `DEST/<source>/<record>.tar.gz`, with a manifest of
   sha256 per file (supervision/archivefile.py), written, fsynced and renamed into place.
3. The archive is read back from disk and checked against the manifest.
4. Only then, and only for files whose bytes still hash to the manifest's, the originals are deleted
   (and the directories left empty). Anything not archived (a socket, a file that changed) stays.

An archive that already exists is verified against the record instead of overwritten. Any failure
keeps the originals and makes the exit code 1; `--dry-run` lists what would be archived. Exit 0:
every selected record archived (or none selected); 1: at least one was not; 2: bad arguments.
"""

import argparse
import fcntl
import os
import re
import sys
import time

from supervision import archivefile
from supervision.archivefile import ArchiveError

_AGE = re.compile(r"(\d+)([dh])")
_RUN_NAME = re.compile(r"(\d{8}-\d{6})")
LOCK_NAME = "supervisor.lock"
ACCOUNT_LOCK_NAME = "account.lock"   # an account home's lock (instancelock.ACCOUNT_LOCK)


def parse_age(text: str) -> float:
    """'30d' / '12h' → seconds. Raises ValueError."""
    match = _AGE.fullmatch(text.strip())
    if not match or int(match[1]) <= 0:
        raise ValueError(
            f"--older-than {text!r}: use a positive number of days or hours, e.g. 30d or 12h"
        )
    return int(match[1]) * (86_400 if match[2] == "d" else 3_600)


def record_time(record: str) -> float:
    """When the record was made: the start in its name, else its newest file's modification time."""
    match = _RUN_NAME.match(os.path.basename(record))
    if match:
        try:
            return time.mktime(time.strptime(match[1], "%Y%m%d-%H%M%S"))
        except ValueError:
            pass
    newest = os.path.getmtime(record)
    for root, _, names in os.walk(record):
        for name in names:
            try:
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
            except OSError:
                continue
    return newest


def in_use(record: str) -> bool:
    """True when a live supervisor holds the record's run lock (instancelock.py), or, for an account
    home's account dir or one of its days, the account's lock (in the account dir)."""
    candidates = (LOCK_NAME, ACCOUNT_LOCK_NAME, os.path.join(os.pardir, ACCOUNT_LOCK_NAME))
    return any(_held(os.path.join(record, name)) for name in candidates)


def _held(path: str) -> bool:
    if not os.path.exists(path):
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        # cannot tell: treat it as in use, never archive a record being written
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)          # closing drops our shared lock, if we took it
    return False


def archive_record(record: str, dest: str, name: str) -> str:
    """Archive, verify, then delete the originals; the outcome in words. Raises ArchiveError."""
    tar_path, _ = archivefile.paths_of(dest, name)
    if not os.path.exists(tar_path):
        archivefile.write(record, dest, name)
    manifest = archivefile.verify(dest, name)
    removed, kept = 0, []
    for entry in manifest["files"]:
        path = os.path.join(record, entry["path"])
        if not os.path.exists(path):
            continue                                   # deleted by an earlier, interrupted run
        if archivefile.sha256_of(path) != (entry["size"], entry["sha256"]):
            kept.append(entry["path"])                 # changed since archived: not in the archive
            continue
        os.unlink(path)
        removed += 1
    _remove_empty_dirs(record)
    if kept:
        raise ArchiveError(
            f"{record}: {len(kept)} file(s) differ from the archive {tar_path} and were "
            f"kept, e.g. {kept[0]}"
        )
    left = ""
    if os.path.exists(record):
        left = f"; left in place: {', '.join(manifest['skipped']) or 'nothing'}"
    return (
        f"archived {record} -> {tar_path} ({len(manifest['files'])} files, {removed} removed{left})"
    )


def _contains(record: str, dest: str) -> bool:
    record, dest = os.path.realpath(record), os.path.realpath(dest)
    return os.path.commonpath([record, dest]) == record


def _remove_empty_dirs(record: str) -> None:
    for root, _, _ in sorted(os.walk(record), key=lambda t: -len(t[0])):
        try:
            os.rmdir(root)
        except OSError:
            continue                                   # not empty: something stays there


def run(sources: list[str], dest: str, older_than_s: float, *, now: float, dry_run: bool = False,
        out=None) -> int:
    out = out or sys.stdout
    failed = 0
    for source in sources:
        if not os.path.isdir(source):
            continue
        target = os.path.join(dest, os.path.basename(os.path.abspath(source)))
        for name in sorted(os.listdir(source)):
            record = os.path.join(source, name)
            if not os.path.isdir(record) or os.path.islink(record):
                continue
            if record_time(record) > now - older_than_s:
                continue
            if _contains(record, dest):
                # DEST itself (or its parent) under the source
                continue
            if in_use(record):
                print(f"skipped {record}: a supervisor is running on it", file=out)
                continue
            if dry_run:
                print(
                    f"would archive {record} -> {archivefile.paths_of(target, name)[0]}", file=out
                )
                continue
            try:
                os.makedirs(target, mode=0o700, exist_ok=True)
                print(archive_record(record, target, name), file=out)
            except (ArchiveError, OSError) as e:
                failed += 1
                print(f"NOT archived {record} (originals kept): {e}", file=out)
    return 1 if failed else 0


def archive_main(argv: list[str], *, now: float | None = None, out=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervisor archive",
                                     description="Archive (tar.gz + sha256 manifest), then remove, "
                                                 "old run records.")
    parser.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 30d or 12h")
    parser.add_argument("--source", action="append", metavar="DIR",
                        help="a directory of records (default: runs); repeat for account homes")
    parser.add_argument("--dry-run", action="store_true", help="list what would be archived")
    parser.add_argument("dest", metavar="DEST", help="where the archives go")
    args = parser.parse_args(argv)
    try:
        older_than_s = parse_age(args.older_than)
    except ValueError as e:
        parser.error(str(e))
    return run(
        args.source or ["runs"],
        args.dest,
        older_than_s,
        now=time.time() if now is None else now,
        dry_run=args.dry_run,
        out=out,
    )
