"""A broker that answers slower than the supervisor's heartbeat timeout, while trading: orders waits
for it inside the call's bound (its connect + read timeouts) and is not killed as hung. A restarted
orders would only make the same call again, with nothing managing its orders while it restarts."""

import time

from tests.chaos.harness import Pipeline, hosted_venue
from tests.integration.test_stop_policy import _example, _legs_submitted
from tests.support import eventually

DELAY_S = 3.0            # three times the harness' heartbeat_timeout_ms (1 s)


def test_a_broker_slower_than_the_heartbeat_timeout_is_waited_for_not_taken_for_a_hang(tmp_path):
    with hosted_venue(tmp_path / "venue", _example("flatten")) as (venue, pointed):
        with Pipeline(tmp_path, pointed) as p:
            p.wait_running()
            eventually(lambda: _legs_submitted(p.run_dir) >= 2, timeout=90,
                       message="brackets opened")
            pid = p.stage("orders")["pid"]
            before = venue.rest.count("GET", "/orders")
            venue.rest.fail_next("delay", 2, delay_s=DELAY_S, route="GET /orders")
            # both slow answers served, then a beat more
            eventually(lambda: venue.rest.count("GET", "/orders") >= before + 3, timeout=60,
                       message="orders read the order book again after the slow answers")
            time.sleep(1.0)
            assert [e for e in p.events() if e["kind"] == "hang"] == []
            assert p.stage("orders")["pid"] == pid, "orders was restarted"
        assert p.exit_code == 0, p.output()[-3000:]
