"""The orders snapshot writer as the stage runs it: a process of its own (orders/snapshotprocess.py)
started, watched and stopped by the stage's handle (orders/snapshotchild.py).

Real processes over a real journal: the snapshots it writes while the journal grows restart as the
whole journal; it never outlives its parent (killed with SIGKILL); one that dies is started again
and counted; a stop leaves its last snapshot and nothing else behind.
"""

import os
import pickle
import signal
import subprocess
import sys
import textwrap

import msgspec
import psutil

from common.journal import JournalReader, JournalWriter
from config.schema import Config, InstrumentConfig
from orders import snapshot
from orders.engine import OrderEngine
from orders.snapshotchild import ROOT, SnapshotChild
from orders.snapshotprocess import WriterArgs
from tests.orders.test_snapshot_properties import view
from tests.orders.test_snapshot_refusals import day, write_journal  # noqa: F401 - a fixture
from tests.support import eventually

CONFIG = Config(instruments=(InstrumentConfig(symbol="SYM0", token=1, tick_size=0.05,
                                                 ref_price=100.0),))


class Log:
    def __init__(self):
        self.warnings: list[tuple[str, dict]] = []

    def warning(self, event: str, **fields) -> None:
        self.warnings.append((event, fields))


class Clock:
    def __init__(self):
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def never(msg):
    raise AssertionError(msg)


def engine_of(rows) -> OrderEngine:
    return OrderEngine.from_config(CONFIG, rows, None, never)


def child_of(desk, directory, journal_path, clock=None) -> SnapshotChild:
    args = WriterArgs(str(directory), journal_path, CONFIG, desk.rows,
                      os.path.join(str(directory), "orders.log"), durable=False, min_events=1,
                      min_interval_ns=0, poll_s=0.02)
    return SnapshotChild(args, os.path.join(str(directory), "writer.pickle"),
                         sorted(os.sched_getaffinity(0)), Log(),
                         **({"clock": clock} if clock else {}))


def snapshot_seq(directory) -> int:
    """The journal seq the snapshot on disk reflects (0: none yet)."""
    try:
        with open(os.path.join(str(directory), snapshot.SNAPSHOT_FILE), "rb") as f:
            return int(msgspec.json.decode(f.readline())["journal"]["seq"])
    except FileNotFoundError:
        return 0


def append(path, events) -> None:
    with JournalWriter(path, "never") as w:
        for m in events:
            w.append(m)
        w.flush()


def restarts_as_the_whole_journal(desk, directory, path) -> None:
    engine = engine_of(desk.rows)
    with JournalReader(path) as reader:
        snapshot.load(os.path.join(str(directory), snapshot.SNAPSHOT_FILE), engine, reader,
                      snapshot.context_digest(CONFIG, desk.rows), 1 << 40)
        assert reader.offset > 0                        # from the snapshot, not the first record
        engine.restore(list(reader.read_from(reader.last_seq + 1)))
        full = engine_of(desk.rows)
        full.restore(list(JournalReader(path).read_from(1)))
    assert view(engine) == view(full)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_snapshot_process_follows_the_journal_and_its_snapshots_restart_as_the_whole_journal(
        tmp_path, day):  # noqa: F811 - the fixture
    desk, events = day
    third = len(events) // 3
    path = write_journal(tmp_path, events[:third])
    child = child_of(desk, tmp_path, path)
    child.watch()                                       # due at once: started
    try:
        eventually(lambda: snapshot_seq(tmp_path) == third, 30, message="first snapshot")
        restarts_as_the_whole_journal(desk, tmp_path, path)
        append(path, events[third:2 * third])           # the day goes on: it follows
        eventually(lambda: snapshot_seq(tmp_path) == 2 * third, 30, message="second snapshot")
        restarts_as_the_whole_journal(desk, tmp_path, path)
        append(path, events[2 * third:])
        eventually(lambda: snapshot_seq(tmp_path) == len(events), 30, message="third snapshot")
        restarts_as_the_whole_journal(desk, tmp_path, path)
    finally:
        pid = child.proc.pid if child.proc else 0
        child.stop()                                    # SIGKILL, reaped
    assert gone(pid) and child.restarts == 0
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []


def test_snapshot_process_dies_when_its_parent_is_killed(tmp_path, day):  # noqa: F811
    """As when orders (or the supervisor, which takes orders with it) is SIGKILLed."""
    desk, events = day
    path = write_journal(tmp_path, events[:100])
    child = child_of(desk, tmp_path, path)
    with open(child.args_path, "wb") as f:
        pickle.dump(child.args, f)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, subprocess, sys, time
        p = subprocess.Popen([sys.executable, "-m", "orders.snapshotprocess", {child.args_path!r},
                              str(os.getpid()), {child.cores!r}])
        print(p.pid, flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (
            ROOT, os.environ.get("PYTHONPATH"))))))
    try:
        pid = int(parent.stdout.readline())
        eventually(lambda: snapshot_seq(tmp_path) == 100, 30, message="the writer at work")
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        eventually(lambda: gone(pid), 5, message="the writer gone with its parent")
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


def test_snapshot_writer_that_dies_is_started_again_after_a_backoff_and_counted(
        tmp_path, day):  # noqa: F811
    desk, events = day
    path = write_journal(tmp_path, events[:100])
    clock = Clock()
    child = child_of(desk, tmp_path, path, clock)
    child.watch()
    try:
        first = child.proc.pid
        os.kill(first, signal.SIGKILL)
        child.proc.wait()
        clock.ns += 10**9
        child.watch()                                   # noticed: counted, not started yet
        assert child.proc is None and child.restarts == 1
        assert child.log.warnings[0][0].startswith("orders snapshot writer down")
        clock.ns += 3 * 10**9
        child.watch()                                   # the backoff is over
        assert child.proc is not None and child.proc.pid != first
        eventually(lambda: snapshot_seq(tmp_path) == 100, 30, message="the new writer at work")
    finally:
        child.stop()


def test_snapshot_writer_runs_at_idle_priority_on_the_cores_it_was_given(
        tmp_path, day):  # noqa: F811
    desk, events = day
    path = write_journal(tmp_path, events[:50])
    child = child_of(desk, tmp_path, path)
    child.cores = str(min(os.sched_getaffinity(0)))
    child.watch()
    try:
        eventually(lambda: snapshot_seq(tmp_path) == 50, 30, message="the writer at work")
        pid = child.proc.pid
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        assert os.sched_getaffinity(pid) == {min(os.sched_getaffinity(0))}
    finally:
        child.stop()


def test_snapshot_writer_is_first_started_once_the_journal_is_a_lead_past_the_loaded_snapshot(
        tmp_path, day):  # noqa: F811 - the fixture
    """A quiet day's journal is read whole at a restart for little: no writer process (~0.5 s of
    CPU at every orders start) until the journal is `lead` records past the snapshot loaded."""
    desk, events = day
    path = write_journal(tmp_path, events[:10])
    args = child_of(desk, tmp_path, path).args
    child = SnapshotChild(args, os.path.join(str(tmp_path), "writer.pickle"),
                          sorted(os.sched_getaffinity(0)), Log(), lead=100, since_seq=50)
    started = []
    child.start = lambda: started.append(True)          # the decision, not the process
    child.watch(149)
    assert started == []
    child.watch(150)
    assert started == [True]


def test_snapshot_writer_far_behind_asks_for_a_small_share_and_goes_idle_again(tmp_path):
    """SCHED_IDLE starves on a saturated core; nice 19 gets a share there (in a child process:
    this one's priority stays as it is)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os
        from orders.snapshotprocess import schedule
        for far in (True, False, True):
            schedule(far)
            print(os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0))
        """)], cwd=ROOT, capture_output=True, text=True, check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (
            ROOT, os.environ.get("PYTHONPATH"))))))
    seen = [tuple(int(x) for x in line.split()) for line in out.stdout.split("\n") if line]
    assert seen[:2] == [(os.SCHED_OTHER, 19), (os.SCHED_IDLE, 19)]
    # back from idle only where the kernel allows it (CAP_SYS_NICE or RLIMIT_NICE >= 1)
    assert seen[2] in ((os.SCHED_OTHER, 19), (os.SCHED_IDLE, 19))


def test_snapshot_writer_is_told_how_far_behind_it_starts(tmp_path, day):  # noqa: F811
    """The stage counts the records since the snapshot on disk at its start; far behind, the
    writer starts with its share of CPU."""
    desk, events = day
    path = write_journal(tmp_path, events[:10])
    args = child_of(desk, tmp_path, path).args
    child = SnapshotChild(args, os.path.join(str(tmp_path), "writer.pickle"),
                          sorted(os.sched_getaffinity(0)), Log(), lead=100, since_seq=50)
    told = []
    child.start = lambda: told.append(child.behind)
    child.watch(6_000)
    assert told == [5_950]
