"""The hang verdict: is a READY stage whose heartbeat is old hung, or only starved of CPU?

A plain "no heartbeat for 1 s" kills healthy stages on a busy machine: with two cores and a load of
five, a stage can wait in the kernel's run queue for more than a second without being at fault, and
every restart repeats the wait (issue 12.9). So the silence we count is the heartbeat's age minus
the time the stage's main thread spent *runnable but waiting for a CPU* since its last beat:

    silent = age of the last beat - run-queue wait accrued since that beat

- a stage that is SIGSTOPped, deadlocked or blocked in a syscall is not runnable: no wait accrues,
  `silent` grows with the clock and the usual threshold applies;
- a stage spinning in a loop without beating gets some CPU share: `silent` grows by its CPU time
  plus any time it was not waiting, so it is still declared hung, a little later on a busy machine;
- a starved stage accrues wait about as fast as the clock moves, so `silent` stays small.

The run-queue wait is the second field of /proc/<pid>/schedstat (Linux, CONFIG_SCHED_INFO; ns) for
the thread-group leader, which is the thread that beats (common.stage.run_stage). Where it cannot be
read, the verdict falls back to the plain age. Pure apart from the injected reader, so it is tested
with a fake clock and fake process stats.
"""

from __future__ import annotations

from dataclasses import dataclass


def runqueue_wait_ns(pid: int) -> int | None:
    """Total ns the main thread of `pid` has spent runnable but not running, or None if unknown."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class _Baseline:
    pid: int
    heartbeat_ns: int
    wait_ns: int | None     # run-queue wait when this heartbeat was first seen


@dataclass(frozen=True)
class Verdict:
    hung: bool
    age_s: float            # heartbeat age by the clock
    silent_s: float         # age minus run-queue wait: the time the stage could have beaten

    def describe(self) -> str:
        return (
            f"no heartbeat for {self.age_s:.3f}s ({self.silent_s:.3f}s of it not waiting for a CPU)"
        )


class HangJudge:
    def __init__(self, timeout_s: float, read_wait_ns=runqueue_wait_ns):
        self.timeout_ns = int(timeout_s * 1e9)
        self._read_wait_ns = read_wait_ns
        self._seen: dict[str, _Baseline] = {}

    def runqueue_wait_ns(self, pid: int) -> int | None:
        """The stage's run-queue wait so far, as this judge reads it (the stop ladder's too)."""
        return self._read_wait_ns(pid)

    def forget(self, name: str) -> None:
        """A stage was (re)spawned: its old baseline means nothing for the new process."""
        self._seen.pop(name, None)

    def judge(self, name: str, pid: int, heartbeat_ns: int, now_ns: int,
              blocked_until_ns: int = 0) -> Verdict:
        """Called on every pass of the watch loop for a READY stage.

        `blocked_until_ns`: the stage is inside a call it declared bounded (a broker request,
        common.stage.StageRuntime.blocked) until then. It is not hung meanwhile: a broker answering
        in 3 s is slow, and a restarted orders would only make the same call again, with nothing
        managing its orders while it restarts. Past the bound its silence counts from its last beat,
        so a call stuck beyond it is a hang at once."""
        if now_ns < blocked_until_ns:
            return Verdict(False, max(0, now_ns - heartbeat_ns) / 1e9, 0.0)
        wait = self._read_wait_ns(pid)
        seen = self._seen.get(name)
        if seen is None or seen.pid != pid or seen.heartbeat_ns != heartbeat_ns:
            # A new beat: the wait counted from here is the stage's alibi for its next silence.
            # (Sampled when the supervisor first sees the beat, so wait between the beat and this
            # pass is not counted: the verdict errs towards "hung", never towards missing a hang.)
            seen = self._seen[name] = _Baseline(pid, heartbeat_ns, wait)
            if now_ns - heartbeat_ns > self.timeout_ns:
                # First seen already old (the supervisor itself was late, on a busy machine): the
                # stage may have been starved all along. Judge from the next pass, which counts its
                # wait for a CPU from here; a stage that is really stuck is caught a pass later.
                return Verdict(False, (now_ns - heartbeat_ns) / 1e9, 0.0)
        age_ns = max(0, now_ns - heartbeat_ns)
        starved_ns = 0
        if wait is not None and seen.wait_ns is not None:
            starved_ns = max(0, wait - seen.wait_ns)
        silent_ns = max(0, age_ns - starved_ns)
        return Verdict(silent_ns > self.timeout_ns, age_ns / 1e9, silent_ns / 1e9)
