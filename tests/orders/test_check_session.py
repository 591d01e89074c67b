"""staticip.print_session: the good-session report both broker checks print (kite.check and
upstox.check end with it; their end-to-end runs: tests/orders/brokers/test_broker_check.py)."""

import io

import pytest

from orders.brokers import staticip

KEY = "abcd1234secretpart"


def _printed(broker, profile) -> str:
    out = io.StringIO()
    staticip.print_session(broker, profile, KEY, out)
    return out.getvalue()


@pytest.mark.parametrize("broker,title", [("kite", "Kite"), ("upstox", "Upstox")])
def test_print_session_when_the_profile_is_full_then_user_app_and_egress_hint_are_printed(
    broker, title
):
    profile = {"user_id": "AB1234", "user_name": "A B", "broker": "ZERODHA",
               "exchanges": ["NSE", "BSE"]}
    lines = _printed(broker, profile).splitlines()
    assert lines[0] == f"{title} session OK: user AB1234 (A B), broker ZERODHA, exchanges NSE BSE"
    assert lines[1] == "API key (app): abcd… (18 chars)"
    assert lines[2].startswith("Egress IP: ") and staticip.WHERE[broker] in lines[2]


def test_print_session_when_the_reply_is_not_a_dict_then_question_marks_and_never_the_key():
    out = _printed("kite", ["not", "a", "profile"])
    assert out.startswith("Kite session OK: user ? (?), broker ?, exchanges \n")
    assert "secretpart" not in out
