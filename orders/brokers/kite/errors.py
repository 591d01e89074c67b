"""Kite failures → OTrade's three broker errors (common/errors.py).

    network / timeout / HTTP 429 / 5xx / DataException / NetworkException  → BrokerRetryable
    ... and a refusal because the order "is being processed" (try later)
    OrderException, InputException, and GeneralException about margin,
    holdings, funds or RMS (Kite's MarginException, HoldingException and
    UserException have no SDK class and arrive as GeneralException)         → BrokerRejected
    TokenException, PermissionException                                    → BrokerFatal
    any refusal of an order because of our IP address (not whitelisted)   → BrokerFatal, code
                                                                             STATIC_IP (staticip.py)

For a placement, BrokerRetryable means OUTCOME UNKNOWN: the request may have reached Kite (a timeout
after the order was taken is the classic duplicate-order trap). The engine looks the tag up in the
order book before anything else; nothing here ever retries. `code` is Kite's error type (or
"Timeout" / "NetworkError"), `http_status` the HTTP status when there was one.

Messages never carry a secret: the server's text is scrubbed of every credential value we hold, and
the requests library's text (which quotes URLs) is replaced by the exception's class name.
Imports only `requests`, `kiteconnect.exceptions`, `common.errors` and `scrub`
(orders/brokers/live.py).
"""

import re

import requests
from kiteconnect import exceptions as kex

from common.errors import (
    BrokerErrorFields,
    BrokerError,
    BrokerFatal,
    BrokerRejected,
    BrokerRetryable,
)
from orders.brokers import staticip
from orders.brokers.live import scrub

# GeneralException texts that are really a refusal of this order (MarginException & co).
_REFUSAL = re.compile(r"margin|funds|holding|rms|insufficient|not allowed|blocked|circuit",
                      re.IGNORECASE)
# Refusals that only mean "not now": the order is mid-transition at the OMS (reference/brokers.md
# §1.4). A cancel refused this way must not read as "already final", or the order would be left
# working.
_TRANSIENT = re.compile(r"being processed|try again|retry", re.IGNORECASE)
LOGIN_HINT = "log in again with `python -m orders.brokers.kite.login`"


def classify(exc: Exception, endpoint: str, secrets: tuple[str, ...] = ()) -> BrokerError:
    """The OTrade error for a failed call to `endpoint` (e.g. "place_order")."""
    if isinstance(exc, requests.exceptions.Timeout):
        return BrokerRetryable(
            f"kite {endpoint}: timed out ({type(exc).__name__}); outcome unknown", code="Timeout"
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return BrokerRetryable(f"kite {endpoint}: network error ({type(exc).__name__})",
                               code="NetworkError")
    if isinstance(exc, (TypeError, KeyError, AttributeError, ValueError)):
        # The SDK indexing a reply of the wrong shape (`data: null`, a string body): never an
        # AttributeError out of the adapter; for a write, the outcome is unknown.
        return BrokerRetryable(
            f"kite {endpoint}: malformed reply ({type(exc).__name__}); outcome unknown",
            code="BadResponse",
        )
    if not isinstance(exc, kex.KiteException):
        return BrokerRetryable(f"kite {endpoint}: unexpected {type(exc).__name__}",
                               code=type(exc).__name__)
    return _classify_kite(exc, endpoint, secrets)


def _classify_kite(exc, endpoint: str, secrets: tuple[str, ...]) -> BrokerError:
    kind = type(exc).__name__
    status = int(getattr(exc, "code", 0) or 0)
    message = f"kite {endpoint}: {scrub(str(exc), secrets)} ({kind}, HTTP {status})"
    fields: BrokerErrorFields = {"code": kind, "http_status": status}
    if status < 500 and staticip.is_refusal(str(exc)):
        # Before the session check: Kite may send it as a PermissionException, which is not a dead
        # session, and the trader must be told to whitelist the IP, not to log in again.
        return staticip.refusal("kite", endpoint, scrub(str(exc), secrets), status)
    if isinstance(exc, (kex.TokenException, kex.PermissionException)):
        return BrokerFatal(f"{message}: the session is invalid or lacks permission; {LOGIN_HINT}",
                           **fields)
    if isinstance(exc, (kex.NetworkException, kex.DataException)) or status == 429:
        return BrokerRetryable(message, **fields)
    if _TRANSIENT.search(str(exc)):
        return BrokerRetryable(message, **fields)
    if isinstance(exc, (kex.OrderException, kex.InputException)):
        return BrokerRejected(message, **fields)
    # GeneralException (and anything unknown): a refusal by its words, else by its status.
    if _REFUSAL.search(str(exc)):
        return BrokerRejected(message, **fields)
    if status >= 500:
        return BrokerRetryable(message, **fields)
    if status == 403:
        return BrokerFatal(f"{message}; {LOGIN_HINT}", **fields)
    return BrokerRejected(message, **fields)
