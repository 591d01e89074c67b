"""Upstox failures → OTrade's three broker errors (common/errors.py).

    network / timeout / HTTP 429 (UDAPI10005) / 5xx (UDAPI100500)          → BrokerRetryable
    other 4xx: invalid input (UDAPI100036/38...), order, margin, RMS       → BrokerRejected
    HTTP 401, invalid token (UDAPI100050), invalid credentials (UDAPI100016) → BrokerFatal
    any refusal of an order because of our IP address (not registered)      → BrokerFatal, code
                                                                  STATIC_IP (staticip.py)

Upstox's error envelope is `{"status": "error", "errors": [{"errorCode": "UDAPI...", "message":
...}]}` with an HTTP status (reference/brokers.md §2.4); the SDK raises `ApiException` carrying the
raw body, which is parsed here. For a placement, BrokerRetryable means OUTCOME UNKNOWN: the engine
looks the tag up before anything else; nothing here retries. `code` is Upstox's errorCode (or
"Timeout" / "NetworkError"), `http_status` the HTTP status.

Messages never carry a secret: only the parsed `message` of the envelope is quoted, scrubbed of
every credential we hold; ApiException's own text (which includes headers) and urllib3's (which
includes URLs) are never used.
"""

import orjson
import urllib3
from upstox_client.rest import ApiException

from common.errors import (
    BrokerErrorFields,
    BrokerError,
    BrokerFatal,
    BrokerRejected,
    BrokerRetryable,
)
from orders.brokers import staticip
from orders.brokers.live import scrub

RATE_LIMITED = "UDAPI10005"
FATAL_CODES = frozenset({"UDAPI100050", "UDAPI100016", "UDAPI100067", "UDAPI100069"})
LOGIN_HINT = "log in again with `python -m orders.brokers.upstox.login`"


def envelope_error(body) -> tuple[str, str]:
    """(errorCode, message) of the first error in an Upstox error body; ("", "") if none."""
    try:
        doc = orjson.loads(body) if isinstance(body, (bytes, str)) else body
        first = (doc.get("errors") or [{}])[0]
        return str(first.get("errorCode") or first.get("error_code") or ""), \
            str(first.get("message") or "")
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
        return "", ""


def classify(exc: Exception, endpoint: str, secrets: tuple[str, ...] = ()) -> BrokerError:
    """The OTrade error for a failed call to `endpoint` (e.g. "place_order")."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        # urllib3 derives it from ConnectTimeoutError, but it is a connection that never opened
        # (refused, unreachable): say so, or a dead broker reads as a slow one.
        return BrokerRetryable(f"upstox {endpoint}: network error, could not connect "
                               f"({type(exc).__name__})", code="NetworkError")
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return BrokerRetryable(
            f"upstox {endpoint}: timed out ({type(exc).__name__}); outcome unknown", code="Timeout"
        )
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return BrokerRetryable(f"upstox {endpoint}: network error ({type(exc).__name__}); "
                               f"outcome unknown", code="NetworkError")
    if not isinstance(exc, ApiException):
        return BrokerRetryable(f"upstox {endpoint}: unexpected {type(exc).__name__}",
                               code=type(exc).__name__)
    return from_response(int(exc.status or 0), exc.body, endpoint, secrets)


def from_response(status: int, body, endpoint: str, secrets: tuple[str, ...] = ()) -> BrokerError:
    """The OTrade error for an HTTP error response (or a 200 whose envelope says "error")."""
    code, text = envelope_error(body)
    message = (
        f"upstox {endpoint}: {scrub(text, secrets) or 'no message'} ({code or '-'}, HTTP {status})"
    )
    fields: BrokerErrorFields = {"code": code or f"HTTP{status}", "http_status": status}
    if status < 500 and staticip.is_refusal(text):     # a 4xx, or a 200 whose envelope says error
        # Upstox publishes no code for it: known by its words (staticip.py), before the token check.
        return staticip.refusal("upstox", endpoint, scrub(text, secrets), status)
    if status == 401 or code in FATAL_CODES:
        return BrokerFatal(
            f"{message}: the access token is invalid or expired; {LOGIN_HINT}", **fields
        )
    if status == 0 or status == 429 or code == RATE_LIMITED or status >= 500:
        return BrokerRetryable(message, **fields)
    if status == 403:
        return BrokerFatal(f"{message}: not permitted for this app or user; {LOGIN_HINT}", **fields)
    return BrokerRejected(message, **fields)
