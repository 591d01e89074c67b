"""The sim source's `clock` names whose time its ticks carry ("synthetic"), in every profile.

The realistic profile once kept its generator's market-time array in an attribute of the same name,
replacing the string after `open()`: feed/stage.py hands `source.clock` to the tick screen, which
then compared a numpy array with "wall" (found by mypy, issue 13)."""

import numpy as np
import pytest

from config.schema import SimFeedConfig
from feed.sources.sim import SimSource


class _Table:
    def __init__(self, ticks):
        self.rows = np.zeros(len(ticks), dtype=[("tick_size", np.float64)])
        self.rows["tick_size"] = ticks


@pytest.mark.parametrize("profile", ["realistic", "stress"])
def test_sim_clock_when_opened_in_either_profile_then_is_still_the_synthetic_kind(profile):
    speed = {"speed": 0.0} if profile == "realistic" else {}
    src = SimSource(SimFeedConfig(seed=5, session_date="2026-01-05", profile=profile, **speed),
                    [245.0, 985.0])
    src.open(_Table([0.01, 0.05]))
    assert src.clock == "synthetic" and src.deterministic is True
