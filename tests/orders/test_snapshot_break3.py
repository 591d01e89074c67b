"""Adversarial checks of the orders snapshot restart (break3)."""

import os
import shutil
import tempfile

import msgspec
import pytest

from orders import snapshot
from tests.orders.test_snapshot_process import child_of, snapshot_seq
from tests.orders.test_snapshot_refusals import (Clock, day, write_journal,  # noqa: F401
                                                 writer_of)
from tests.support import eventually


def _tree_copy(dst) -> str:
    """A copy of the sources a snapshot's code digest may read (orders/, common/)."""
    for rel in ("orders", "common"):
        shutil.copytree(os.path.join(snapshot._ROOT, rel), os.path.join(str(dst), rel),
                        ignore=shutil.ignore_patterns("__pycache__"))
    return str(dst)


@pytest.mark.parametrize("source", ["common/pricegrid.py", "common/ids.py"])
def test_snapshot_code_digest_covers_the_price_grid_and_ids_the_brackets_are_made_with(
        tmp_path, monkeypatch, source):
    """BracketDesk.open (orders/brackets.py:156-162) stores each bracket's stop and target rounded
    by common/pricegrid.py, and its re-pricing from the fill (:291-293) and the SL leg's limit
    (:398) round there too. A restart from the whole journal re-runs that rounding with the code
    it runs; a snapshot carries the rounding of the code that wrote it. So a change of
    common/pricegrid.py between two runs of one day (an upgrade at lunch) must make the snapshot
    `code_version`-refused, as a change of orders/brackets.py does — but pricegrid is not among
    orders/snapshot.py's _SOURCES, and the old snapshot is loaded. Likewise common/ids.py: the
    pickled `Place`s of a bracket's entry plan name their orders by `client_order_id`
    (orders/actions.py), which BracketDesk's reach sums look up in the book."""
    root = _tree_copy(tmp_path)
    monkeypatch.setattr(snapshot, "_ROOT", root)
    snapshot.code_digest.cache_clear()
    try:
        before = snapshot.code_digest()
        with open(os.path.join(root, source), "a") as f:
            f.write("\n# another rounding, another id\n")
        snapshot.code_digest.cache_clear()
        assert snapshot.code_digest() != before
    finally:
        snapshot.code_digest.cache_clear()


def test_snapshot_writer_killed_mid_write_at_the_stop_leaves_no_temporary(tmp_path, day):  # noqa: F811
    """SnapshotChild.stop (orders/snapshotchild.py:96-107) SIGKILLs the writer wherever it is.
    Killed inside write_atomic (common/atomicfile.py: between mkstemp and os.replace; a busy day's
    snapshot is tens of MB, and at SCHED_IDLE on the orders core its write can be preempted for as
    long as orders is busy), it leaves `.orders.snapshot.*.tmp` in the account day's dir. Only the
    next writer's start removes it (orders/snapshotprocess.py:95): after the day's last stop it
    stays there for good, a full copy of the day's book. Here the writer's temporary is made as
    the write in flight would have it, once the writer is running (its start already swept)."""
    desk, events = day
    path = write_journal(tmp_path, events[:100])
    child = child_of(desk, tmp_path, path)
    child.watch()
    try:
        eventually(lambda: snapshot_seq(tmp_path) == 100, 30, message="the writer at work")
        fd, tmp = tempfile.mkstemp(prefix=f".{snapshot.SNAPSHOT_FILE}.", suffix=".tmp",
                                   dir=str(tmp_path))      # as write_atomic names it
        os.write(fd, b"half a snapshot")
        os.close(fd)
    finally:
        child.stop()
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []


def test_snapshot_is_stamped_with_the_code_its_writer_runs_not_the_code_on_disk_later(
        tmp_path, monkeypatch, day):  # noqa: F811
    """orders/snapshot.py's code_digest is computed lazily, from the files on disk, the first time
    it is asked: in the writer's process that is its first `save` (read_checked asks it only when
    a snapshot exists), MIN_EVENTS records and MIN_INTERVAL_NS after the process imported the
    engine — minutes on a quiet day. Sources updated in between (a `git pull` for the next start,
    while the run goes on) stamp the snapshot of the OLD code's shadow with the NEW code's digest,
    and the next start, running the new code, loads it as its own instead of refusing it
    (`code_version`). The stamp must be of the code the writer imported."""
    desk, events = day
    root = _tree_copy(tmp_path / "src")
    monkeypatch.setattr(snapshot, "_ROOT", root)
    snapshot.code_digest.cache_clear()
    try:
        running = snapshot.code_digest()        # what the process runs, imported at its start
        snapshot.code_digest.cache_clear()      # ... a fresh writer process: nothing asked yet
        path = write_journal(tmp_path, events[:100])
        writer = writer_of(desk, tmp_path, path, min_events=1, min_interval_ns=0, clock=Clock())
        with open(os.path.join(root, "orders", "brackets.py"), "a") as f:
            f.write("\n# the next version, pulled while the run goes on\n")
        assert writer.step()
        writer.close()
        with open(writer.path, "rb") as f:
            stamped = msgspec.json.decode(f.readline())["code"]
        assert stamped == running
    finally:
        snapshot.code_digest.cache_clear()


def test_the_forkservers_warm_module_takes_the_code_digest_every_forked_orders_stage_reuses():
    """orders.warm (preloaded by the forkserver) takes it once: a restarted orders stage loading a
    busy day's snapshot does not read and hash the sources again, and its digest is the one of the
    code it runs (the template's), not of whatever is on disk at its restart."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "import orders.warm as w; from orders import snapshot; "
         "print(w.WARMED, snapshot.code_digest.cache_info().currsize)"],
        cwd=snapshot._ROOT, capture_output=True, text=True, check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (
            snapshot._ROOT, os.environ.get("PYTHONPATH"))))))
    assert out.stdout.split() == ["True", "1"]
