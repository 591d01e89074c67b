"""Adversarial checks of the orders snapshot restart (break3)."""

import os
import shutil
import tempfile

import pytest

from orders import snapshot
from tests.orders.test_snapshot_process import child_of, snapshot_seq
from tests.orders.test_snapshot_refusals import day, write_journal  # noqa: F401 - a fixture
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
