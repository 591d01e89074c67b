"""Kite failures are classified as retryable, rejected or fatal, and no message carries a secret."""

import pytest
import requests
from kiteconnect import exceptions as kex

from common.errors import BrokerFatal, BrokerRejected, BrokerRetryable
from orders.brokers.kite.errors import classify, scrub

TOKEN = "s3cr3t-access-token"


@pytest.mark.parametrize("exc", [
    requests.exceptions.ReadTimeout("read timed out"),
    requests.exceptions.ConnectTimeout("connect timed out"),
    requests.exceptions.ConnectionError("refused"),
    kex.NetworkException("Too many requests", code=429),
    kex.NetworkException("Gateway timed out", code=503),
    kex.DataException("bad OMS response", code=502),
    kex.GeneralException("Internal server error", code=500),
    kex.InputException("Order cannot be cancelled as it is being processed. Try later.", code=400),
])
def test_network_timeouts_429_and_5xx_are_retryable(exc):
    assert isinstance(classify(exc, "place_order"), BrokerRetryable)


def test_a_timeout_is_reported_as_an_unknown_outcome():
    error = classify(requests.exceptions.ReadTimeout("x"), "place_order")
    assert error.code == "Timeout" and "outcome unknown" in str(error)


@pytest.mark.parametrize("exc", [
    kex.OrderException("Order could not be placed", code=500),
    kex.InputException("Invalid `quantity`", code=400),
    kex.GeneralException("Insufficient funds. Required margin is 95417.84", code=400),
    kex.GeneralException("RMS:Margin Exceeds", code=500),
    kex.GeneralException("Insufficient holdings", code=400),
    kex.GeneralException("Some other refusal", code=400),
])
def test_order_input_margin_and_rms_errors_are_rejections(exc):
    error = classify(exc, "place_order")
    assert isinstance(error, BrokerRejected)
    assert error.code == type(exc).__name__ and error.http_status == exc.code


@pytest.mark.parametrize("exc", [
    kex.TokenException("Incorrect `api_key` or `access_token`.", code=403),
    kex.PermissionException("Insufficient permission", code=403),
])
def test_token_and_permission_errors_are_fatal_and_say_what_to_do(exc):
    error = classify(exc, "orders")
    assert isinstance(error, BrokerFatal) and "orders.brokers.kite.login" in str(error)


def test_secret_values_are_scrubbed_from_server_messages():
    error = classify(kex.TokenException(f"token {TOKEN} expired", code=403), "orders", (TOKEN,))
    assert TOKEN not in str(error) and "***" in str(error)


def test_network_error_text_is_not_quoted_because_it_may_hold_a_url():
    error = classify(
        requests.exceptions.ConnectionError(f"http://x/?access_token={TOKEN}"), "orders"
    )
    assert TOKEN not in str(error) and "ConnectionError" in str(error)


def test_scrub_leaves_text_without_secrets_alone_and_ignores_trivial_values():
    assert scrub("nothing to hide", ("", "ab")) == "nothing to hide"
