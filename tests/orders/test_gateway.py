"""BrokerGateway on its own (orders/gateway.py): built from what its constructor names — a broker, a
book, a throttle, a journal, a clock and three reactions — with no engine around it.

The engine-level behaviour (exactly-once, crash points, refused sessions) is tested through
OrderEngine elsewhere; these pin the gateway's own contract, which the engine relies on.
"""

from common.errors import BrokerFatal
from common.messages import OrderAccepted, OrderFilled, OrderRejected, OrderSubmitting
from orders.orderbook import OrderBook
from orders.actions import Place
from orders.brokers.base import BrokerAck, BrokerTrade
from orders.fees import FeeSchedule
from orders.gateway import BrokerGateway, EngineJournal
from orders.orderrate import OrderRate

SECOND = 1_000_000_000


class Broker:
    """Records each call in the shared log; `fatal` makes every call refuse the session."""

    def __init__(self, log):
        self.log, self.fatal = log, None

    def place(self, req):
        self.log.append(("place", req.client_order_id))
        if self.fatal:
            raise self.fatal
        return BrokerAck(f"B-{req.client_order_id}", req.client_order_id, "ACCEPTED")

    def poll_events(self):
        self.log.append(("poll",))
        if self.fatal:
            raise self.fatal
        return []


class Harness:
    def __init__(self, rate_per_sec=10):
        self.log, self.now, self.wall, self.halts, self.replans = [], 5 * SECOND, 0, [], 0
        self.events = []
        self.book, self.stats = OrderBook(), {k: 0 for k in (
            "held_actions", "deferred_placements", "probes", "backed_off_actions", "broker_errors",
            "unknown_fills")}
        self.throttle = OrderRate(rate_per_sec, 1000, 100_000)
        self.broker = Broker(self.log)
        journal = EngineJournal(mark=lambda: self.log.append(("mark",)), emit=self.emit,
                                flush=lambda: self.log.append(("flush",)))
        self.gateway = BrokerGateway(
            self.broker,
            self.book,
            self.throttle,
            journal,
            lambda: self.now,
            venues=["NSE"],
            symbols=["SBIN"],
            fees=FeeSchedule("zerodha"),
            stats=self.stats,
            touch=lambda order: None,
            halt=self.halts.append,
            replan_all=self.replan,
            wall_ns=lambda: self.wall,
            probe_interval_ns=10 * SECOND,
        )

    def emit(self, msg):
        self.log.append(("emit", type(msg).__name__))
        self.events.append(msg)
        self.book.apply(msg)
        if isinstance(msg, OrderSubmitting):
            self.throttle.record(msg.ts_event_ns, "NSE")

    def replan(self):
        self.replans += 1


def entry(intent_id="I1"):
    return Place(role="ENTRY", intent_id=intent_id, n=0, bracket_id=intent_id, strategy="s",
                 instrument=0, side=1, qty=1, order_type="MARKET")


def test_gateway_when_placing_then_the_order_is_journaled_and_flushed_before_the_broker_hears_of_it():  # noqa: E501 - the name is the test's sentence
    h = Harness()
    h.gateway.execute([entry()], seq=7)
    kinds = [e[0] if e[0] != "emit" else e[1] for e in h.log]
    assert kinds == ["mark", OrderSubmitting.__name__, "flush", "place", OrderAccepted.__name__]
    (order,) = h.book.working()
    assert order.broker_order_id.startswith("B-") and order.status == "ACCEPTED"


def test_gateway_when_the_throttle_has_no_room_then_the_placement_is_deferred_until_it_has():
    h = Harness(rate_per_sec=1)
    h.gateway.execute([entry("I1"), entry("I2")], seq=1)
    assert [e for e in h.log if e[0] == "place"] == [("place", h.book.working()[0].client_order_id)]
    assert h.gateway.deferred == {"NSE"} and h.stats["deferred_placements"] == 1
    assert h.gateway.next_due_ns() == h.now + SECOND       # the next second of market time has room


def test_gateway_when_the_session_is_refused_then_it_halts_holds_actions_and_probes_once_per_interval():  # noqa: E501 - the name is the test's sentence
    h = Harness()
    h.broker.fatal = BrokerFatal("TokenException")
    h.gateway.execute([entry("I1")], seq=1)
    assert ("emit", OrderRejected.__name__) in h.log           # refused at the door: not in doubt
    assert h.halts == ["broker fatal error: TokenException"] and h.gateway.broker_down
    h.gateway.execute([entry("I2")], seq=2)
    assert h.stats["held_actions"] == 1 and len([e for e in h.log if e[0] == "place"]) == 1
    assert h.gateway.reports() == [] and ("poll",) not in h.log   # no call before the probe is due
    h.broker.fatal, h.wall = None, 10 * SECOND
    assert h.gateway.reports() == [] and h.log[-1] == ("poll",)    # the probe, and it went through
    assert h.stats["probes"] == 1 and h.gateway.broker_down == "" and h.replans == 1


def test_gateway_when_the_session_is_refused_mid_batch_then_the_rest_is_held_not_sent():
    # A new intent's entry slices are executed together. The refusal of the first halts trading
    # (ending the bracket's entries); each further slice was still journaled and sent with the dead
    # token, against "no call with a refused session" (Kite may block a key that keeps calling).
    h = Harness()
    h.broker.fatal = BrokerFatal("TokenException")
    h.gateway.execute([entry("I1"), entry("I2"), entry("I3")], seq=1)
    assert len([e for e in h.log if e[0] == "place"]) == 1
    assert len([m for m in h.events if isinstance(m, OrderSubmitting)]) == 1
    assert h.halts == ["broker fatal error: TokenException"] and h.stats["held_actions"] == 2


def test_gateway_when_the_broker_reports_a_fill_twice_or_one_not_ours_then_ours_is_journaled_once_with_fees():  # noqa: E501 - the name is the test's sentence
    h = Harness()
    h.gateway.execute([entry()], seq=3)
    (order,) = h.book.working()
    fill = BrokerTrade("T1", order.broker_order_id, order.client_order_id, 0, 1, 1, 500.0)
    for report in (fill, fill, BrokerTrade("T2", "B-manual", "", 0, 1, 1, 500.0)):
        h.gateway.on_report(report, seq=4)
    (filled,) = [m for m in h.events if isinstance(m, OrderFilled)]
    assert (filled.fill_id, filled.tick_seq, filled.leaves_qty) == (
        "T1",
        4,
        0,
    ) and filled.fees_inr > 0
    # placed by hand: positions reconciles it
    assert h.stats["unknown_fills"] == 1
