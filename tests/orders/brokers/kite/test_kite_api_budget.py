"""Kite's API budget (10 requests a second for all but placements) goes to what reports fills.

Found by the chaos test against the local Kite server: after a burst of fills, eight stop and target
legs refused by the client-side placement throttle were each looked up every market second (every
lookup a read of the whole order book), and the poll that had read the order book found no room
left for the trade book, read the order book again at the next step, and again: filled entries
went unreported, and so unprotected by their stops, for seconds. A placement the throttle refused
was never sent, so it needs no lookup; and a poll owed its trade-book read reads only that.

Against the local Kite server through the official SDK; the harness clock is fake, so which request
fits the budget is a fact of the test.
"""

from common.messages import OrderAccepted, OrderFilled, OrderInDoubt, OrderSubmitting
from orders.brokers.base import BrokerOrder, BrokerTrade, OrderRequest
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from orders.gateway import ACTION_RETRY_NS
from orders.recovery import IN_DOUBT_RETRY_NS
from tests.orders.brokers.kite.kite_support import make_kite  # noqa: F401 - fixture
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, intent, of_type

NEVER_DUE_MS = 3_600_000       # the order book is polled once, at the first poll, then not again


def engine_on(h, events: list) -> OrderEngine:
    return OrderEngine(h.table.rows, limits_of(enforce_session=False), FeeSchedule("zerodha"),
                       h.broker, events.append)


def resting(strategy: str):
    """A LIMIT buy below the market: accepted and left working, nothing fills."""
    return intent(1, strategy=strategy, order_type="LIMIT", limit_price=99.0)


def a_second_later(h, tape: Tape) -> None:
    """One market second (the in-doubt retry pace) and one wall second (the adapter's window)."""
    tape.prices(0, [100.0] * (IN_DOUBT_RETRY_NS // tape.step_ns + 1))
    h.clock.advance(1.05)


def past_the_backoff(h, tape: Tape) -> None:
    """A wall second (the adapter's window is free again), then a refused cancel's backoff of
    market time: its retry is the next request."""
    h.clock.advance(1.05)
    tape.prices(0, [100.0] * (ACTION_RETRY_NS // tape.step_ns + 1))


def test_a_placement_the_throttle_refused_is_sent_again_without_a_lookup(make_kite):  # noqa: F811
    h = make_kite(orders_per_sec=1, poll_interval_ms=NEVER_DUE_MS)
    events: list = []
    engine, tape = engine_on(h, events), Tape()
    tape.add(0, 100.0)
    engine.advance(tape.array(), [resting("a"), resting("b")])
    (refused,) = of_type(events, OrderInDoubt)
    assert "throttled" in refused.reason
    book_reads = h.server.count("GET", "/orders")

    a_second_later(h, tape)
    engine.advance(tape.array())
    assert h.server.count("GET", "/orders") == book_reads       # no lookup of it
    submits = [m.client_order_id for m in of_type(events, OrderSubmitting)]
    assert submits.count(refused.client_order_id) == 2
    accepted = {m.client_order_id for m in of_type(events, OrderAccepted)}
    assert refused.client_order_id in accepted and len(accepted) == 2
    tags = [o["tag"] for o in h.server.exchange.orders()]
    assert sorted(tags) == sorted(accepted)                      # each at the broker once


def test_a_placement_that_went_out_once_is_still_looked_up_after_a_throttled_retry(
        make_kite):  # noqa: F811
    # The first attempt is sent and its connection dropped (in doubt, and the broker may have it);
    # the lookup finds nothing, the retry meets the throttle. That retry sent nothing, but the
    # first attempt did: the next retry looks the order up again before sending.
    h = make_kite(orders_per_sec=1, poll_interval_ms=NEVER_DUE_MS, timeout_s=0.5)
    events: list = []
    engine, tape = engine_on(h, events), Tape()
    tape.add(0, 100.0)
    h.server.fail_next("drop", delay_s=0.05, route="POST /orders/regular")
    engine.advance(tape.array(), [resting("a")])
    (dropped,) = of_type(events, OrderInDoubt)
    assert "throttled" not in dropped.reason
    reads = h.server.count("GET", "/orders")

    # The lookup (a book read) says never received, and the resend is throttled: the dropped
    # attempt's request still counts in the adapter's window, which the clock has not left.
    tape.prices(0, [100.0] * (IN_DOUBT_RETRY_NS // tape.step_ns + 1))
    engine.advance(tape.array())
    assert h.server.count("GET", "/orders") == reads + 1
    assert "throttled" in of_type(events, OrderInDoubt)[-1].reason

    a_second_later(h, tape)
    engine.advance(tape.array())
    assert h.server.count("GET", "/orders") == reads + 2        # looked up again, then sent
    (accepted,) = of_type(events, OrderAccepted)
    assert accepted.client_order_id == dropped.client_order_id
    assert [o["tag"] for o in h.server.exchange.orders()] == [dropped.client_order_id]


def test_a_poll_owed_its_trade_book_read_reads_only_the_trade_book(make_kite):  # noqa: F811
    h = make_kite(api_per_sec=2, poll_interval_ms=0)
    h.broker.place(OrderRequest("EFILL1", 0, "SBIN", "NSE", 1, 5, "MARKET"))
    h.tick(100.0)                                    # filled at the broker
    h.broker.find_by_client_id("EFILL1")             # one request of the two this second
    h.clock.advance(0.1)
    assert h.broker.poll_events() == []              # the book read fits, the trade book not
    assert (h.server.count("GET", "/orders"), h.server.count("GET", "/trades")) == (2, 0)

    h.clock.advance(0.95)                            # the lookup's place in the window frees
    events = h.broker.poll_events()
    assert (h.server.count("GET", "/orders"), h.server.count("GET", "/trades")) == (2, 1)
    (trade, order) = events                          # the trade first, then the order it filled
    assert isinstance(trade, BrokerTrade) and isinstance(order, BrokerOrder)
    assert (trade.client_order_id, trade.qty, order.filled_qty) == ("EFILL1", 5, 5)


def test_legs_waiting_for_the_throttle_leave_the_api_budget_to_the_polls(make_kite):  # noqa: F811
    # Kite's own budgets, scaled down: 2 placements and 3 other requests a second. Three brackets
    # fill; their six legs meet the placement throttle and wait their turn. Each is placed once, and
    # the order book is read by the polls alone (every 500 ms), never by a lookup of a waiting leg.
    h = make_kite(orders_per_sec=2, api_per_sec=3, poll_interval_ms=500)
    events: list = []
    engine, tape = engine_on(h, events), Tape()
    tape.add(0, 100.0)
    entries = [intent(1, strategy=s, stop_loss=95.0, target=105.0) for s in "abc"]
    engine.advance(tape.array(), entries[:2])
    h.clock.advance(1.05)
    engine.advance(tape.array(), entries[2:])
    steps = 50                          # 5 s of market and wall time, 10 steps a second
    for _ in range(steps):
        h.tick(100.0)
        tape.add(0, 100.0)
        h.clock.advance(0.1)
        engine.advance(tape.array())
        engine.poll_broker()
    fills = {m.client_order_id for m in of_type(events, OrderFilled)}
    placed = [m for m in of_type(events, OrderSubmitting)]
    legs = {m.client_order_id for m in placed if m.role in ("STOP", "TARGET")}
    assert len(fills) == 3 and len(legs) == 6
    assert legs <= {m.client_order_id for m in of_type(events, OrderAccepted)}
    assert len(h.server.exchange.orders()) == 9                  # each order once at the broker
    assert h.server.count("GET", "/orders") <= 2 + steps * 0.1 / 0.5    # polls only, no lookups


def test_a_cancel_our_throttle_refused_is_counted_throttled_not_a_broker_error(
        make_kite):  # noqa: F811
    # One request a second, spent by the first poll. The halt's cancel of the working entry meets
    # our own limit and is never sent: `throttled`, not `broker_errors` (a calm square-off showed
    # hundreds of "broker errors" that were only this). A second later it goes out and the server
    # refuses it (429): that one is the broker's error. Then it goes through.
    h = make_kite(api_per_sec=1, poll_interval_ms=NEVER_DUE_MS)
    events: list = []
    engine, tape = engine_on(h, events), Tape()
    tape.add(0, 100.0)
    engine.advance(tape.array(), [resting("a")])
    assert h.server.count("GET", "/orders") == 1             # the second's one request
    engine.set_trading_state("HALTED", "operator: ctl halt")  # cancels the working entry
    assert h.server.count("DELETE", "/orders") == 0
    assert (engine.stats["throttled"], engine.stats["broker_errors"]) == (1, 0)

    h.server.fail_next("429", route="DELETE /orders")
    past_the_backoff(h, tape)
    engine.advance(tape.array())
    assert h.server.count("DELETE", "/orders") == 1
    assert (engine.stats["throttled"], engine.stats["broker_errors"]) == (1, 1)

    past_the_backoff(h, tape)
    engine.advance(tape.array())
    assert h.server.count("DELETE", "/orders") == 2
    assert (engine.stats["throttled"], engine.stats["broker_errors"]) == (1, 1)
    assert [o["status"] for o in h.server.exchange.orders()] == ["CANCELLED"]
