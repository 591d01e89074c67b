from orders.orderrate import SECOND_NS, OrderRate
from tests.orders.stubs import ist_ns

T0 = ist_ns(10, 0)


def test_throttle_counts_sliding_second_minute_and_day_windows():
    th = OrderRate(3, 5, 7)
    for i in range(4):
        th.record(T0 + i * 400_000_000)        # 0, 0.4, 0.8, 1.2 s
    assert th.counts(T0 + 1_200_000_000) == (3, 4, 4)  # the entry at 0 s left the 1 s window


def test_throttle_room_is_zero_when_any_window_is_full():
    th = OrderRate(2, 100, 100)
    th.record(T0)
    th.record(T0)
    assert th.room(T0) == 0
    assert th.room(T0 + SECOND_NS) == 2


def test_throttle_next_free_is_when_the_oldest_entry_of_the_full_window_leaves():
    th = OrderRate(2, 100, 100)
    th.record(T0)
    th.record(T0 + 300_000_000)
    assert th.next_free_ns(T0 + 500_000_000) == T0 + SECOND_NS
    assert th.next_free_ns(T0 + SECOND_NS) == T0 + SECOND_NS


def test_throttle_day_limit_frees_at_the_next_ist_midnight():
    th = OrderRate(10, 10, 2)
    th.record(T0)
    th.record(T0 + 10 * SECOND_NS)
    assert th.room(T0 + 3600 * SECOND_NS) == 0
    assert th.next_free_ns(T0 + 3600 * SECOND_NS) == ist_ns(0, 0) + 86_400 * SECOND_NS


def test_throttle_new_day_starts_with_fresh_counts():
    th = OrderRate(10, 10, 2)
    th.record(T0)
    th.record(T0 + 86_400 * SECOND_NS)
    assert th.counts(T0 + 86_400 * SECOND_NS) == (1, 1, 1)


# The retail-algo framework's threshold is per exchange/segment (orders/orderrate.py).

def test_throttle_when_one_venue_reaches_its_per_second_limit_then_it_has_no_room_but_another_has():
    th = OrderRate(10, 400, 5000, venue_per_sec=3)
    for i in range(3):
        th.record(T0 + i * 100_000_000, "NSE")
    now = T0 + 300_000_000
    assert th.room(now, "NSE") == 0
    assert th.room(now, "NFO") == 3                 # a fresh venue: its own 3 a second
    assert th.room(now) == 7                        # no venue: the account's windows only
    for i in range(7):
        th.record(now, f"V{i}")                    # 7 venues, one each: the account's 10 are used
    assert th.room(now, "BFO") == 0                 # BFO has room, but the account is full


def test_throttle_counts_with_a_venue_make_risks_account_comparison_bind_on_the_venue():
    th = OrderRate(10, 400, 5000, venue_per_sec=3)
    for i in range(3):
        th.record(T0 + i * 100_000_000, "BSE")
    in_sec, in_min, in_day = th.counts(T0 + 300_000_000, "BSE")
    assert in_sec + 1 > 10                          # risk's test: one more order would overflow
    assert (in_min, in_day) == (3, 3)
    assert th.counts(T0 + 300_000_000, "NSE")[0] == 7   # NSE's own 3 a second are still free


def test_throttle_next_free_waits_for_the_full_venue_window_to_slide():
    th = OrderRate(10, 400, 5000, venue_per_sec=2)
    th.record(T0, "NFO")
    th.record(T0 + 400_000_000, "NFO")
    assert th.next_free_ns(T0 + 500_000_000, "NFO") == T0 + SECOND_NS
    assert th.next_free_ns(T0 + 500_000_000, "NSE") == T0 + 500_000_000


def test_throttle_venue_windows_restart_with_a_new_ist_day():
    th = OrderRate(10, 400, 5000, venue_per_sec=1)
    th.record(T0, "NSE")
    tomorrow = T0 + 86_400 * SECOND_NS
    th.record(tomorrow, "NSE")
    assert th.counts(tomorrow, "NSE") == (10, 1, 1)  # the venue's one placement fills its window
    assert th.room(tomorrow + SECOND_NS, "NSE") == 1


def test_throttle_venue_window_keeps_exact_counts_after_pruning_old_entries():
    th = OrderRate(10, 400, 5000, venue_per_sec=2)
    for i in range(50):                              # 50 placements 0.3 s apart: pruned as it goes
        th.record(T0 + i * 300_000_000, "NSE")
    last = T0 + 49 * 300_000_000
    assert th.venue_count(last, "NSE") == 4          # 13.8, 14.1, 14.4, 14.7 s


def test_engine_throttles_each_exchange_to_its_own_rate_and_exits_wait_for_their_venue(make_desk):
    """The retail-algo threshold is per exchange/segment: NSE's second fills up without holding
    back BSE's orders, and a deferred exit on NSE is woken when NSE has room again."""
    from common.messages import OrderDenied, OrderSubmitting
    from tests.orders.risk_support import limits_of
    from orders.risk import CODES
    from tests.orders.stubs import Tape, instruments, intent, of_type
    rows = instruments(2)
    rows["exchange"] = [b"NSE", b"BSE"]
    # a 2/s venue budget: the exchanges' threshold 2/s with no margin
    limits = limits_of(enforce_session=False, rate_per_sec=10, ops_threshold=2, rate_margin_pct=0.0,
                       leg_prices="signal")
    desk, tape = make_desk(rows=rows, limits=limits), Tape(step_ms=10)
    tape.add(0, 100.0)
    tape.add(1, 200.0)
    desk.run(tape, [intent(1, instrument=0, qty=1, strategy=s) for s in ("a", "b", "c")] +
             [intent(2, instrument=1, qty=1, strategy="d")])
    denied = of_type(desk.events, OrderDenied)
    assert [(m.intent_id, m.reason_code) for m in denied] == [("c:0:1", CODES["RATE_PER_SEC"])]
    assert [m.instrument for m in of_type(desk.events, OrderSubmitting)] == [0, 0, 1]
