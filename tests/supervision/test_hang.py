"""HangJudge with a fake clock and fake run-queue statistics (issue 12.9): a stage is hung when it
was silent for the threshold while it could have run, not when it was only waiting for a CPU."""

from supervision.hang import HangJudge, runqueue_wait_ns

MS = 1_000_000
PID = 4242


class FakeStats:
    """Run-queue wait of the fake stage's main thread, advanced by the test."""

    def __init__(self, available=True):
        self.wait_ns = 0
        self.available = available

    def __call__(self, pid):
        return self.wait_ns if self.available else None


def test_hang_when_a_stage_is_silent_and_not_waiting_for_cpu_then_it_is_hung():
    stats = FakeStats()
    judge = HangJudge(1.0, stats)
    assert not judge.judge("feed", PID, heartbeat_ns=0, now_ns=0).hung
    v = judge.judge("feed", PID, heartbeat_ns=0, now_ns=1_200 * MS)     # stopped: no wait accrues
    assert v.hung and v.silent_s == v.age_s == 1.2


def test_hang_when_a_silent_stage_spent_the_time_in_the_run_queue_then_it_is_not_hung():
    stats = FakeStats()
    judge = HangJudge(1.0, stats)
    judge.judge("feed", PID, heartbeat_ns=0, now_ns=0)
    stats.wait_ns = 2_700 * MS                       # 2.7 s of the 3 s waiting for a core
    v = judge.judge("feed", PID, heartbeat_ns=0, now_ns=3_000 * MS)
    assert not v.hung and abs(v.silent_s - 0.3) < 1e-9 and v.age_s == 3.0


def test_hang_when_a_stage_spins_without_beating_on_a_busy_machine_then_it_is_hung_once_its_own_time_passes():  # noqa: E501 - the name is the test's sentence
    stats = FakeStats()
    judge = HangJudge(1.0, stats)
    judge.judge("feed", PID, heartbeat_ns=0, now_ns=0)
    for second in range(1, 10):                      # half of every second on a CPU, half waiting
        stats.wait_ns = second * 500 * MS
        v = judge.judge("feed", PID, heartbeat_ns=0, now_ns=second * 1_000 * MS)
        if v.hung:
            break
    assert v.hung and second == 3                    # 1.5 s of its own time > 1 s


def test_hang_when_the_stage_beats_then_the_wait_counts_again_from_that_beat():
    stats = FakeStats()
    judge = HangJudge(1.0, stats)
    judge.judge("orders", PID, heartbeat_ns=0, now_ns=0)
    stats.wait_ns = 5_000 * MS                       # a long starvation before the beat
    judge.judge("orders", PID, heartbeat_ns=5_000 * MS, now_ns=5_000 * MS)
    v = judge.judge("orders", PID, heartbeat_ns=5_000 * MS, now_ns=6_500 * MS)   # then stopped
    assert v.hung and v.silent_s == 1.5


def test_hang_when_a_new_process_replaces_the_stage_then_the_old_wait_is_not_its_alibi():
    stats = FakeStats()
    judge = HangJudge(1.0, stats)
    judge.judge("orders", PID, heartbeat_ns=0, now_ns=0)
    stats.wait_ns = 10_000 * MS
    judge.forget("orders")
    first = judge.judge("orders", PID + 1, heartbeat_ns=0, now_ns=1_500 * MS)
    assert not first.hung            # first seen already old: judged from the next pass
    v = judge.judge("orders", PID + 1, heartbeat_ns=0, now_ns=1_520 * MS)
    assert v.hung                    # no wait for a CPU since: the old process's wait is no alibi


def test_hang_when_run_queue_stats_cannot_be_read_then_the_plain_age_decides():
    judge = HangJudge(1.0, FakeStats(available=False))
    assert not judge.judge("feed", PID, heartbeat_ns=0, now_ns=900 * MS).hung
    assert judge.judge("feed", PID, heartbeat_ns=0, now_ns=1_100 * MS).hung


def test_runqueue_wait_when_reading_this_process_then_it_is_a_count_and_none_for_no_such_pid():
    mine = runqueue_wait_ns(__import__("os").getpid())
    assert mine is None or mine >= 0
    assert runqueue_wait_ns(2 ** 22 + 12345) is None


def test_hang_when_a_stage_waits_inside_a_bounded_broker_call_then_it_is_not_hung_until_the_bound():
    """A broker answering in 3 s is slow, not hung: orders killed for it would make the same call
    again after its restart, with nothing managing its orders meanwhile (the stop ladder too)."""
    judge = HangJudge(1.0, FakeStats())
    judge.judge("orders", PID, heartbeat_ns=0, now_ns=0)
    bound = 14_000 * MS                              # Kite: 7 s connect + 7 s read
    v = judge.judge("orders", PID, heartbeat_ns=0, now_ns=3_000 * MS, blocked_until_ns=bound)
    assert not v.hung and v.age_s == 3.0
    # a call stuck past its bound is a hang at once
    v = judge.judge("orders", PID, heartbeat_ns=0, now_ns=bound + MS, blocked_until_ns=bound)
    assert v.hung
