from orders import statemachine as sm
from orders.statemachine import transition


def test_statemachine_ordinary_life_of_an_order():
    status = sm.NEW
    for event, expected in ((sm.SUBMIT, sm.SUBMITTING), (sm.ACCEPT, sm.ACCEPTED),
                            (sm.FILL_PART, sm.PARTIALLY_FILLED), (sm.FILL_FULL, sm.FILLED)):
        status, legal = transition(status, event)
        assert legal and status == expected


def test_statemachine_when_fill_arrives_after_cancel_request_fill_wins():
    assert transition(sm.CANCEL_PENDING, sm.FILL_PART) == (sm.CANCEL_PENDING, True)
    assert transition(sm.CANCEL_PENDING, sm.FILL_FULL) == (sm.FILLED, True)


def test_statemachine_when_cancel_confirmed_after_partial_fill_rest_is_canceled():
    assert transition(sm.PARTIALLY_FILLED, sm.CANCEL) == (sm.CANCELED, True)


def test_statemachine_when_cancel_confirmed_after_full_fill_order_stays_filled():
    assert transition(sm.FILLED, sm.CANCEL) == (sm.FILLED, True)


def test_statemachine_when_fill_reported_after_cancel_confirmation_status_stays_canceled():
    assert transition(sm.CANCELED, sm.FILL_PART) == (sm.CANCELED, True)


def test_statemachine_fill_for_in_doubt_order_proves_it_exists():
    assert transition(sm.IN_DOUBT, sm.FILL_PART) == (sm.PARTIALLY_FILLED, True)
    assert transition(sm.IN_DOUBT, sm.FILL_FULL) == (sm.FILLED, True)
    assert transition(sm.IN_DOUBT, sm.ACCEPT) == (sm.ACCEPTED, True)


def test_statemachine_late_reject_after_accept_is_legal():
    assert transition(sm.ACCEPTED, sm.REJECT) == (sm.REJECTED, True)


def test_statemachine_fill_before_ack_is_legal():
    assert transition(sm.SUBMITTING, sm.FILL_FULL) == (sm.FILLED, True)


def test_statemachine_illegal_transition_keeps_status_and_says_so():
    assert transition(sm.FILLED, sm.FILL_PART) == (sm.FILLED, False)
    assert transition(sm.REJECTED, sm.ACCEPT) == (sm.REJECTED, False)
    assert transition(sm.CANCELED, sm.REJECT) == (sm.CANCELED, False)


def test_statemachine_ack_after_the_final_report_keeps_the_final_status():
    assert transition(sm.FILLED, sm.ACCEPT) == (sm.FILLED, True)
    assert transition(sm.CANCELED, sm.ACCEPT) == (sm.CANCELED, True)


def test_statemachine_every_transition_lands_on_a_known_status():
    for (status, _event), new in sm.TRANSITIONS.items():
        assert status in sm.STATUSES and new in sm.STATUSES


def test_statemachine_terminal_statuses_never_become_working_again():
    events = (sm.SUBMIT, sm.ACCEPT, sm.REJECT, sm.IN_DOUBT_EVENT, sm.FILL_PART, sm.FILL_FULL,
              sm.CANCEL_REQUEST, sm.CANCEL)
    for status in sm.TERMINAL:
        for event in events:
            assert transition(status, event)[0] in sm.TERMINAL
