"""Upstox failures are classified as retryable, rejected or fatal, and no message carries a
secret."""

import orjson
import pytest
import urllib3
from upstox_client.rest import ApiException

from common.errors import BrokerFatal, BrokerRejected, BrokerRetryable
from orders.brokers.upstox.errors import classify, envelope_error

TOKEN = "s3cr3t-upstox-access-token"


class _Response:
    """What the SDK's ApiException reads from an HTTP response."""

    def __init__(self, status, code, message):
        self.status, self.reason = status, "x"
        self.data = orjson.dumps(
            {"status": "error", "errors": [{"errorCode": code, "message": message}]}
        )

    def getheaders(self):
        return {"Authorization": f"Bearer {TOKEN}"}


def api_error(status, code, message="m"):
    return ApiException(http_resp=_Response(status, code, message))


@pytest.mark.parametrize("exc", [
    api_error(429, "UDAPI10005", "Too Many Request Sent"),
    api_error(500, "UDAPI100500", "Something went wrong"),
    api_error(503, "", "Service unavailable"),
    urllib3.exceptions.ReadTimeoutError(None, "/v3/order/place", "read timed out"),
    urllib3.exceptions.NewConnectionError(None, "refused"),
    urllib3.exceptions.ProtocolError("connection aborted"),
    ConnectionResetError("reset"),
])
def test_network_timeouts_429_and_5xx_are_retryable(exc):
    assert isinstance(classify(exc, "place_order"), BrokerRetryable)


def test_a_timeout_is_reported_as_an_unknown_outcome():
    error = classify(urllib3.exceptions.ReadTimeoutError(None, "/x", "t"), "place_order")
    assert error.code == "Timeout" and "outcome unknown" in str(error)


def test_a_refused_connection_when_classified_then_it_is_a_network_error_not_a_timeout():
    error = classify(urllib3.exceptions.NewConnectionError(None, "refused"), "trades")
    assert isinstance(error, BrokerRetryable) and error.code == "NetworkError"
    assert "could not connect" in str(error)


@pytest.mark.parametrize("exc", [
    api_error(400, "UDAPI100038", "Invalid input"),
    api_error(400, "UDAPI100036", "Invalid input"),
    api_error(400, "UDAPI1052", "Insufficient funds: margin required"),
    api_error(404, "UDAPI100010", "Order not found"),
])
def test_input_order_and_margin_errors_are_rejections_with_upstox_code(exc):
    error = classify(exc, "place_order")
    assert isinstance(error, BrokerRejected) and not isinstance(error, BrokerRetryable)
    assert error.code == orjson.loads(exc.body)["errors"][0]["errorCode"]
    assert error.http_status == exc.status


@pytest.mark.parametrize("exc", [
    api_error(401, "UDAPI100050", "Invalid token used to access API"),
    api_error(400, "UDAPI100016", "Invalid Credentials"),
])
def test_invalid_token_and_credentials_are_fatal_and_say_what_to_do(exc):
    error = classify(exc, "orders")
    assert isinstance(error, BrokerFatal) and "orders.brokers.upstox.login" in str(error)


def test_the_token_never_appears_even_when_the_server_echoes_it():
    error = classify(api_error(401, "UDAPI100050", f"token {TOKEN} expired"), "orders", (TOKEN,))
    assert TOKEN not in str(error) and "***" in str(error)


def test_exception_text_with_headers_or_urls_is_never_quoted():
    exc = urllib3.exceptions.NewConnectionError(None, f"http://x/?access_token={TOKEN}")
    assert TOKEN not in str(classify(exc, "orders"))
    assert TOKEN not in str(classify(api_error(500, "UDAPI100500"), "orders"))


def test_an_unreadable_error_body_still_classifies_by_http_status():
    assert envelope_error(b"<html>bad gateway</html>") == ("", "")
    exc = ApiException(status=502, reason="Bad Gateway")
    assert isinstance(classify(exc, "orders"), BrokerRetryable)
