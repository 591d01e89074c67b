"""Review of the account home (issue 11.1 with 11.4): a replay is not the account's today.

A replay keeps its journals in its own run dir and never opens the account's day
(supervision/accountday.keeps_account_day), yet `take_instance_locks` took the paper
account's lock for it: a backtest replay was refused while the paper account trades, and a long
replay kept the paper account from starting. Fixed in take_instance_locks: no account lock for a
replay.
"""

import os

import pytest

from tests.chaos import replay_case
from tests.chaos.harness import Pipeline

pytestmark = pytest.mark.slow


def test_replay_when_the_paper_account_is_trading_then_it_runs_in_its_own_run_dir(tmp_path):
    csv = str(tmp_path / "session.csv")
    replay_case.write_session(csv, 3000)
    with Pipeline(tmp_path, {"feed": {"sim": {"tick_rate_hz": 200}}}) as trading:
        trading.wait_running()
        with Pipeline(tmp_path, replay_case.overrides(csv, 0)) as replay:
            code = replay.wait_exit(timeout=120)
        assert code in (0, 3), replay.output()[-2000:]
        journal = os.path.join(replay.run_dir, "orders.jsonl")
        # its own, not the account day's
        assert os.path.isfile(journal) and not os.path.islink(journal)
        assert trading.proc.poll() is None
