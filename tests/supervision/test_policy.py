"""RestartPolicy: pure, clock injected (`now` is an argument), so no test sleeps."""

import pytest

from supervision.policy import RestartPolicy


def test_policy_when_a_stage_first_dies_in_a_quiet_window_then_it_restarts_at_once():
    d = RestartPolicy(3, 60.0, 20, 1000).on_death(100.0)
    assert d.restart and d.delay_s == 0.0


def test_policy_when_deaths_repeat_in_the_window_then_the_delay_doubles_up_to_the_cap():
    p = RestartPolicy(10, 60.0, 20, 100)
    delays = [p.on_death(100.0 + i).delay_s for i in range(6)]
    assert delays == [0.0, 0.02, 0.04, 0.08, 0.1, 0.1]


def test_policy_when_max_restarts_is_reached_within_the_window_then_it_gives_up_with_a_reason():
    p = RestartPolicy(2, 10.0, 20, 100)
    assert p.on_death(0.0).restart and p.on_death(1.0).restart
    d = p.on_death(2.0)
    assert not d.restart and "limit 2" in d.reason


def test_policy_when_old_restarts_leave_the_window_then_they_no_longer_count():
    p = RestartPolicy(2, 10.0, 20, 100)
    p.on_death(0.0)
    p.on_death(1.0)
    d = p.on_death(11.5)          # both earlier restarts are more than 10 s old
    assert d.restart and d.delay_s == 0.0 and p.recent == 1


def test_policy_when_max_restarts_is_zero_then_the_first_death_gives_up():
    assert not RestartPolicy(0, 10.0, 20, 100).on_death(0.0).restart


@pytest.mark.parametrize("max_restarts, window_s", [(-1, 10.0), (3, 0.0)])
def test_policy_when_limits_are_invalid_then_it_refuses_to_build(max_restarts, window_s):
    with pytest.raises(ValueError):
        RestartPolicy(max_restarts, window_s, 20, 100)
