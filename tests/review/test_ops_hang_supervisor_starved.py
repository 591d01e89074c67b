"""The hang verdict when the supervisor itself was starved of CPU (supervision/hang.py, issue
12.9), with fake run-queue statistics.

README "Security and failure model": "A stage is declared hung only after 1 s of silence during
which it was not waiting for a CPU". HangJudge takes a stage's run-queue wait baseline when the
supervisor *first sees* a heartbeat, so wait accrued between the beat and that look is never an
alibi. On a busy machine the supervisor's own pass can come late; a stage that beat, then waited for
a core the whole time until the supervisor's next (first) look 1.2 s later, is declared hung on that
look.
"""

from supervision.hang import HangJudge
from tests.supervision.test_hang import MS, PID, FakeStats


def test_hang_when_the_supervisor_first_looks_late_at_a_beat_the_stage_starved_after_then_not_hung():  # noqa: E501 - the name is the test's sentence
    stats = FakeStats()
    judge = HangJudge(1.0, stats)
    stats.wait_ns = 10_000 * MS
    judge.judge("feed", PID, heartbeat_ns=0, now_ns=0)            # an earlier beat, seen in time
    # The stage beats again at 0.1 s, then waits in the run queue until 1.3 s; the supervisor,
    # starved as well, makes its next pass at 1.3 s: the new beat is first seen there.
    stats.wait_ns = 10_000 * MS + 1_200 * MS
    v = judge.judge("feed", PID, heartbeat_ns=100 * MS, now_ns=1_300 * MS)
    assert not v.hung, v.describe()


def test_hang_when_the_stage_starves_after_a_beat_seen_in_time_then_not_hung():
    """Holds: the same starvation, with the supervisor looking right after the beat, is an alibi."""
    stats = FakeStats()
    judge = HangJudge(1.0, stats)
    judge.judge("feed", PID, heartbeat_ns=100 * MS, now_ns=110 * MS)
    stats.wait_ns = 1_190 * MS
    v = judge.judge("feed", PID, heartbeat_ns=100 * MS, now_ns=1_300 * MS)
    assert not v.hung, v.describe()
