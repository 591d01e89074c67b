from orders.throttle import SECOND_NS, Throttle
from tests.orders.stubs import ist_ns

T0 = ist_ns(10, 0)


def test_throttle_counts_sliding_second_minute_and_day_windows():
    th = Throttle(3, 5, 7)
    for i in range(4):
        th.record(T0 + i * 400_000_000)        # 0, 0.4, 0.8, 1.2 s
    assert th.counts(T0 + 1_200_000_000) == (3, 4, 4)  # the entry at 0 s left the 1 s window


def test_throttle_room_is_zero_when_any_window_is_full():
    th = Throttle(2, 100, 100)
    th.record(T0)
    th.record(T0)
    assert th.room(T0) == 0
    assert th.room(T0 + SECOND_NS) == 2


def test_throttle_next_free_is_when_the_oldest_entry_of_the_full_window_leaves():
    th = Throttle(2, 100, 100)
    th.record(T0)
    th.record(T0 + 300_000_000)
    assert th.next_free_ns(T0 + 500_000_000) == T0 + SECOND_NS
    assert th.next_free_ns(T0 + SECOND_NS) == T0 + SECOND_NS


def test_throttle_day_limit_frees_at_the_next_ist_midnight():
    th = Throttle(10, 10, 2)
    th.record(T0)
    th.record(T0 + 10 * SECOND_NS)
    assert th.room(T0 + 3600 * SECOND_NS) == 0
    assert th.next_free_ns(T0 + 3600 * SECOND_NS) == ist_ns(0, 0) + 86_400 * SECOND_NS


def test_throttle_new_day_starts_with_fresh_counts():
    th = Throttle(10, 10, 2)
    th.record(T0)
    th.record(T0 + 86_400 * SECOND_NS)
    assert th.counts(T0 + 86_400 * SECOND_NS) == (1, 1, 1)
