"""common/slidingwindow.py, the one sliding-window rule of every client-side rate limit to a broker,
against a brute-force count of the events in each window."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.slidingwindow import SlidingWindows

LIMITS = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 50)), min_size=1, max_size=3)


def _fits(times, limits, now) -> bool:
    return all(sum(1 for t in times if t > now - span) < count for count, span in limits)


@settings(max_examples=300, deadline=None)
@given(limits=LIMITS, gaps=st.lists(st.integers(0, 20), min_size=1, max_size=60))
def test_an_event_is_let_through_exactly_when_every_window_has_room(limits, gaps):
    windows, times, now = SlidingWindows(limits), [], 0
    for gap in gaps:
        now += gap
        free = windows.next_free(now)
        assert (free == now) == _fits(times, limits, now)
        assert (windows.room(now) > 0) == _fits(times, limits, now)
        if free == now:
            windows.record(now)
            times.append(now)
        else:                       # the first moment that fits, and not a moment earlier
            assert _fits(times, limits, free) and not _fits(times, limits, free - 1)


def test_limits_that_are_not_positive_pairs_are_refused():
    for bad in ((), ((0, 1),), ((3, 0),)):
        with pytest.raises(ValueError, match="positive"):
            SlidingWindows(bad)
