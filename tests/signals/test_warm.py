"""signals/warm.py, preloaded by the supervisor's forkserver, warms every kernel and never
raises."""

import importlib

from numba import config as numba_config

import signals.warm
from signals.strategies import STRATEGIES
from signals.strategy import Strategy


def test_importing_warm_runs_every_registered_strategy_kernel():
    module = importlib.reload(signals.warm)
    assert module.WARM_ERROR == ""
    assert module.WARMED == tuple(STRATEGIES)
    if not numba_config.DISABLE_JIT:
        assert all(len(cls.kernel.signatures) >= 1 for cls in STRATEGIES.values())


class _Broken(Strategy):
    kind = "broken"

    @classmethod
    def warm(cls):
        raise RuntimeError("no compiler today")


def test_a_failing_warm_up_is_recorded_instead_of_raised(monkeypatch):
    monkeypatch.setitem(STRATEGIES, "broken", _Broken)
    module = importlib.reload(signals.warm)
    assert "no compiler today" in module.WARM_ERROR
    assert "broken" not in module.WARMED
