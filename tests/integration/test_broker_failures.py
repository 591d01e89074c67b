"""The whole pipeline against a local broker venue that misbehaves: each failure the issue lists.

The test hosts the venue itself (tests.chaos.harness.hosted_venue), so it can work the servers'
failure switches while the supervisor runs the stages against it:
- the feed socket sends a malformed frame (counted, dropped), drops (reconnect, resubscribe) and
  goes silent (the watchdog reconnects);
- the REST server answers one placement 429 and one 500: the order goes in doubt, is looked up by
  its tag, sent again, and is at the broker exactly once;
- the REST server refuses the token: orders halts trading with the reason, without crashing, and no
  credential shows in any log or journal;
- the REST server answers 500 to every trade-book read while orders restarts: recovery holds (HALTED
  with the reason, the stage up and beating), and resumes by itself once the broker answers.
"""

import json
import os
import time

import pytest

from tests.chaos.harness import Pipeline, hosted_venue
from tests.support import eventually

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENUES = ("kite", "upstox")
PLACE = {"kite": ("POST", "/orders/regular"), "upstox": ("POST", "/v3/order/place")}
SECRETS = {"kite": ("local-token", "local:local-token"), "upstox": ("local-upstox-token",)}

pytestmark = pytest.mark.slow


def _overrides(venue: str) -> dict:
    """The venue's example (instruments with Upstox keys, local server), a 1 s feed watchdog."""
    with open(os.path.join(ROOT, "config", "examples", f"{venue}-local.json")) as f:
        example = json.load(f)
    return {
        "instruments": example["instruments"],
        "broker": example["broker"],
        "feed": {"source": venue, venue: {"watchdog_s": 1.0}},
        "risk": {"enforce_session": False},
    }


def _journal(p: Pipeline, name: str = "orders.jsonl") -> list[dict]:
    path = os.path.join(p.run_dir, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _feed(p: Pipeline) -> dict:
    return p.stage("feed").get("counters", {})


def _trading(p: Pipeline):
    eventually(lambda: p.stage("orders").get("counters", {}).get("fills", 0) > 0, timeout=30,
               message="a first fill from the venue")


def _tags_at_broker(venue) -> list[str]:
    return [o.client_order_id for o in venue.rest.exchange.paper.orders()]


def _ride_out_feed_failures(p: Pipeline, venue, n_instruments: int) -> None:
    server = venue.feed_server
    ticks = _feed(p)["ticks"]
    server.send_malformed()
    eventually(
        lambda: _feed(p)["dropped_malformed"] == 1,
        timeout=10,
        message="the malformed frame counted",
    )
    eventually(
        lambda: _feed(p)["ticks"] > ticks, timeout=10, message="ticks after the malformed frame"
    )
    for n, fail in enumerate((server.drop_connections, server.go_silent), start=1):
        accepted, reconnects = server.connections_accepted, _feed(p)["reconnects"]
        fail()
        eventually(
            lambda: (
                server.connections_accepted > accepted
                and len(server.subscriptions) == n_instruments
            ),
            timeout=20,
            message=f"{fail.__name__}: a new connection subscribed to every instrument",
        )
        eventually(
            lambda: _feed(p)["reconnects"] > reconnects,
            timeout=10,
            message="the feed counts a reconnect",
        )
        ticks = _feed(p)["ticks"]
        eventually(
            lambda: _feed(p)["ticks"] > ticks,
            timeout=10,
            message=f"ticks flow again after {fail.__name__}",
        )
    assert server.connections_accepted >= 3


def _placement_survives(p: Pipeline, venue, name: str, mode: str) -> str:
    """Answer the next placement with `mode`; return its client order id once it is at the
    broker."""
    method, path = PLACE[name]
    sent = venue.rest.count(method, path)
    venue.rest.fail_next(mode, route=f"{method} {path}")
    eventually(
        lambda: venue.rest.count(method, path) > sent, timeout=30, message=f"a placement met {mode}"
    )

    def in_doubt():
        return next((r["client_order_id"] for r in _journal(p) if r["type"] == "OrderInDoubt"
                     and f"HTTP {mode}" in r["reason"]), None)

    coid = eventually(in_doubt, timeout=10, message=f"the {mode} placement journaled in doubt")
    eventually(
        lambda: coid in _tags_at_broker(venue),
        timeout=20,
        message=f"{coid} looked up and sent again",
    )
    eventually(
        lambda: any(
            r["type"] == "OrderAccepted" and r["client_order_id"] == coid for r in _journal(p)
        ),
        timeout=10,
        message=f"{coid} accepted",
    )
    return coid


@pytest.mark.parametrize("name", VENUES)
def test_feed_drops_silence_malformed_frames_and_rest_429_500_are_ridden_out(tmp_path, name):
    overrides = _overrides(name)
    with hosted_venue(tmp_path / "venue", overrides) as (venue, pointed):
        with Pipeline(tmp_path, pointed) as p:
            p.wait_running()
            _trading(p)
            _ride_out_feed_failures(p, venue, len(overrides["instruments"]))
            retried = [_placement_survives(p, venue, name, mode) for mode in ("429", "500")]
            restarts = {stage: s["restarts"] for stage, s in p.health()["stages"].items()}
        assert p.exit_code == 0, p.output()[-3000:]
        tags = _tags_at_broker(venue)
    assert all(tags.count(coid) == 1 for coid in retried), retried
    assert len(tags) == len(set(tags)), "a client order id reached the broker twice"
    submitted = {r["client_order_id"] for r in _journal(p) if r["type"] == "OrderSubmitting"}
    assert set(tags) <= submitted                  # every order at the broker was journaled first
    assert set(restarts.values()) == {0}, restarts     # no stage died of any of it
    assert p.leftovers() == {"segments": [], "sockets": []}


@pytest.mark.parametrize("name", VENUES)
def test_a_token_error_halts_trading_with_its_reason_and_no_secret_in_any_log(tmp_path, name):
    with hosted_venue(tmp_path / "venue", _overrides(name)) as (venue, pointed):
        with Pipeline(tmp_path, pointed) as p:
            p.wait_running()
            _trading(p)
            # from now on every REST call: token refused
            venue.rest.fail_next("token", n=10**6)

            def halted():
                return next((r for r in _journal(p) if r["type"] == "TradingStateChanged"
                             and r["state"] == "HALTED"), None)

            event = eventually(halted, timeout=20, message="orders halted trading")
            time.sleep(2.0)                 # polls keep meeting the dead token meanwhile
            orders = p.stage("orders")
            # halted, not crash-looping
            assert orders["state"] == "ready" and orders["restarts"] == 0, orders
    with open(os.path.join(p.run_dir, "summary.json")) as f:
        summary = json.load(f)
    # The stop cannot flatten with a refused session: whatever was open is left at the broker, and
    # the run says so with exit 5 (0 only when nothing was open).
    left = summary.get("left_at_broker") or {}
    expected = 5 if (left.get("working_orders") or left.get("positions")) else 0
    assert p.exit_code == expected, (left, p.output()[-3000:])
    assert "token" in event["reason"].lower() and "log in again" in event["reason"], event["reason"]
    assert summary["stages"]["orders"]["trading_state"] == "HALTED"
    texts = [p.output()]
    for folder, _, files in os.walk(p.run_dir):
        texts += [open(os.path.join(folder, f), errors="replace").read() for f in files
                  if f.endswith((".log", ".jsonl", ".json"))]
    leaked = [s for s in SECRETS[name] for text in texts if s in text]
    assert not leaked, f"credentials in the run's files: {sorted(set(leaked))}"
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_orders_restarted_into_a_dead_token_holds_halted_instead_of_crash_looping(tmp_path):
    import signal

    with hosted_venue(tmp_path / "venue", _overrides("kite")) as (venue, pointed):
        with Pipeline(tmp_path, pointed) as p:
            p.wait_running()
            _trading(p)
            venue.rest.fail_next("token", n=10**6)          # the session dies for good
            first = p.stage("orders")["pid"]
            os.kill(first, signal.SIGKILL)                  # and orders must recover through it
            eventually(lambda: p.stage("orders").get("pid") not in (None, first)
                       and p.stage("orders").get("state") == "ready", timeout=30,
                       message="orders restarted and ready")
            health = eventually(lambda: (h := p.health()) and h["trading_state"] == "HALTED" and h,
                                timeout=20, message="status shows HALTED")
            time.sleep(3.0)                                 # long enough for a crash loop to show
            orders = p.stage("orders")
    assert orders["restarts"] == 1 and orders["state"] == "ready", orders
    assert health["trading_state_by"] == "orders", health
    assert "token" in health["trading_state_reason"].lower(), health["trading_state_reason"]
    assert p.exit_code == 0, p.output()[-3000:]
    assert p.leftovers() == {"segments": [], "sockets": []}


def test_orders_recovering_while_the_broker_answers_500_holds_halted_then_resumes_by_itself(
    tmp_path,
):
    import signal

    with hosted_venue(tmp_path / "venue", _overrides("kite")) as (venue, pointed):
        with Pipeline(tmp_path, pointed) as p:
            p.wait_running()
            _trading(p)
            # recovery reads the trade book
            venue.rest.fail_next("500", n=10**6, route="GET /trades")
            first = p.stage("orders")["pid"]
            os.kill(first, signal.SIGKILL)
            held = eventually(lambda: (h := p.health()) and h["trading_state"] == "HALTED"
                              and "recovery" in h["trading_state_reason"] and h, timeout=30,
                              message="status shows the recovery hold with its reason")
            reads = venue.rest.count("GET", "/trades")
            eventually(lambda: venue.rest.count("GET", "/trades") >= reads + 2, timeout=30,
                       message="recovery tries again while held")
            assert p.stage("orders")["restarts"] == 1                  # held, not crash-looping
            venue.rest.clear_failures()                                  # the broker answers again
            eventually(lambda: p.health()["trading_state"] == "ACTIVE", timeout=30,
                       message="trading resumed by itself")
            orders = p.stage("orders")["counters"]["orders"]
            eventually(lambda: p.stage("orders")["counters"]["orders"] > orders, timeout=30,
                       message="orders placed after the resume")
            after = p.stage("orders")
        tags = _tags_at_broker(venue)
    assert after["restarts"] == 1 and after["state"] == "ready", after
    assert "HTTP 500" in held["trading_state_reason"], held["trading_state_reason"]
    assert p.exit_code == 0, p.output()[-3000:]
    assert len(tags) == len(set(tags)), "a client order id reached the broker twice"
    assert p.leftovers() == {"segments": [], "sockets": []}
