"""Review of the account home (issue 11.1): the benchmarks' supervisor runs trade a private paper
account.

Before: benchmarks/harness.SupervisedRun passed no OTRADE_ACCOUNT_HOME, so every benchmark run
traded the user's default paper account (~/.local/state/otrade/accounts/paper-default): seen holding
a 732 KB day journal accumulated by the benchmarks, each run resuming the previous one's day (HALTED
by its stop, its market clock, its orders): the figures measured a halted engine.
"""

import benchmarks.harness as harness


def test_supervised_run_when_started_then_it_has_an_account_home_of_its_own(tmp_path, monkeypatch):
    seen = []

    class Recorder:
        def __init__(self, cmd, *, env, **kw):
            seen.append(env)

    monkeypatch.setattr(harness.subprocess, "Popen", Recorder)
    monkeypatch.delenv("OTRADE_ACCOUNT_HOME", raising=False)
    for run_id in ("b-1", "b-2"):
        harness.SupervisedRun(str(tmp_path), {}, run_id=run_id).__enter__()
    homes = [env.get("OTRADE_ACCOUNT_HOME") for env in seen]
    assert all(h and h.startswith(str(tmp_path)) for h in homes), homes
    assert homes[0] != homes[1]          # two runs of one benchmark do not resume each other's day
