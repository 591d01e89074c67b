"""orders/stage.py: the wait between recovery attempts against a broker that does not answer."""

from orders.recoveryhold import BACKOFF_FIRST_NS as RECOVERY_BACKOFF_FIRST_NS
from orders.recoveryhold import BACKOFF_MAX_NS as RECOVERY_BACKOFF_MAX_NS
from orders.recoveryhold import backoff_ns as recovery_backoff_ns


def test_recovery_backoff_when_the_broker_keeps_failing_then_it_doubles_from_half_a_second_to_ten():
    waits = [recovery_backoff_ns(n) for n in range(8)]
    assert waits[:5] == [500_000_000, 1_000_000_000, 2_000_000_000, 4_000_000_000, 8_000_000_000]
    assert waits[5:] == [RECOVERY_BACKOFF_MAX_NS] * 3 and RECOVERY_BACKOFF_MAX_NS == 10_000_000_000
    # no overflow on a long outage
    assert recovery_backoff_ns(10_000) == RECOVERY_BACKOFF_MAX_NS
    assert waits[0] == RECOVERY_BACKOFF_FIRST_NS
