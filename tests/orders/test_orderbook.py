"""The order book applies events through the transition table; the odd ones as brokers send them."""

from common.messages import (OrderAccepted, OrderCanceled, OrderFilled, OrderInDoubt, OrderRejected,
                             OrderSubmitting)
from orders import statemachine as sm
from orders.orderbook import OrderBook


def submitting(coid="E1", qty=10):
    return OrderSubmitting(ts_event_ns=1, client_order_id=coid, intent_id="mac:0:1", strategy="mac",
                           bracket_id="mac:0:1", role="ENTRY", instrument=0, symbol="SYM0", side=1,
                           qty=qty, order_type="MARKET", price=0.0, trigger_price=0.0, tick_seq=1)


def filled(fill_id, qty, coid="E1"):
    return OrderFilled(ts_event_ns=2, client_order_id=coid, broker_order_id="P1", fill_id=fill_id,
                       strategy="mac", bracket_id="mac:0:1", role="ENTRY", instrument=0,
                       symbol="SYM0", side=1, qty=qty, price=100.0, fees_inr=0.1, tick_seq=2,
                       leaves_qty=0)


def accepted(coid="E1"):
    return OrderAccepted(ts_event_ns=1, client_order_id=coid, broker_order_id="P1",
                         status="ACCEPTED")


def book_with(*events) -> OrderBook:
    book = OrderBook()
    for e in events:
        book.apply(e)
    return book


def test_book_duplicate_fill_is_ignored_by_fill_id():
    book = book_with(submitting(), accepted(), filled("E1.1", 4), filled("E1.1", 4))
    order = book.get("E1")
    assert order.filled_qty == 4 and order.status == sm.PARTIALLY_FILLED
    assert book.duplicate_fills == 1


def test_book_fill_after_cancel_request_wins_and_the_rest_stays_pending_cancel():
    book = book_with(submitting(), accepted())
    book.request_cancel(book.get("E1"))
    book.apply(filled("E1.1", 4))
    assert book.get("E1").status == sm.CANCEL_PENDING and book.get("E1").leaves == 6
    book.apply(OrderCanceled(ts_event_ns=3, client_order_id="E1", broker_order_id="P1"))
    assert book.get("E1").status == sm.CANCELED and book.get("E1").filled_qty == 4
    assert book.n_working == 0


def test_book_fill_for_an_in_doubt_order_settles_it():
    doubt = OrderInDoubt(ts_event_ns=1, client_order_id="E1", reason="timeout")
    book = book_with(submitting(), doubt, filled("E1.1", 10))
    assert book.get("E1").status == sm.FILLED and book.get("E1").broker_order_id == "P1"
    assert book.by_broker_id["P1"] is book.get("E1")


def test_book_late_reject_after_accept():
    book = book_with(submitting(), accepted(),
                     OrderRejected(ts_event_ns=5, client_order_id="E1", broker_order_id="P1",
                                   reason="RMS: margin", code="RMS"))
    assert book.get("E1").status == sm.REJECTED and book.get("E1").settled_ns == 5
    assert book.illegal_transitions == 0


def test_book_illegal_event_is_counted_not_raised():
    book = book_with(submitting(), accepted(), filled("E1.1", 10))
    book.apply(filled("E1.2", 1))                        # an overfill
    assert book.get("E1").status == sm.FILLED
    assert book.illegal_transitions == 1


def test_book_event_for_an_unknown_order_is_counted():
    book = book_with(accepted("ZZZ"))
    assert book.unknown_events == 1 and not book.orders


def test_book_unresolved_lists_submitting_and_in_doubt_orders_only():
    book = book_with(submitting("E1"), submitting("E2"), accepted("E2"), submitting("E3"),
                     OrderInDoubt(ts_event_ns=1, client_order_id="E3", reason="timeout"))
    assert [o.client_order_id for o in book.unresolved()] == ["E1", "E3"]
