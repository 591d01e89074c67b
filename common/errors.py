"""One small error hierarchy for all of OTrade.

Catch the narrowest class that lets you act: a `BrokerRetryable` may be retried with backoff
(never for a placement whose outcome is unknown: that is looked up first), a `BrokerRejected`
is final for that order, a `BrokerFatal` (bad token, bad credentials) halts trading.
Risk denials are *not* exceptions: risk returns reason codes and emits `OrderDenied` events.
"""

from typing import TypedDict


class OTradeError(Exception):
    """Base of every error OTrade raises on purpose."""


class ConfigError(OTradeError):
    """A configuration file or value is wrong. `source` is the file, `path` the dotted field."""

    def __init__(self, message: str, *, source: str = "", path: str = ""):
        self.source = source
        self.path = path
        where = source
        if path:
            where = f"{source}: {path}" if source else path
        super().__init__(f"{where}: {message}" if where else message)


class RingError(OTradeError):
    """A shared-memory ring cannot be created or attached (layout mismatch, missing segment)."""


class BusError(OTradeError):
    """A ZeroMQ endpoint or a journal cannot be used (bad directory, corrupt record)."""


class BrokerError(OTradeError):
    """A broker call failed. `code` is the broker's own error type or status, when known."""

    def __init__(self, message: str, *, code: str = "", http_status: int | None = None):
        self.code = code
        self.http_status = http_status
        super().__init__(message)


class BrokerErrorFields(TypedDict):
    """BrokerError's keyword fields, for an adapter that builds them once and raises one of several
    classes with them (`BrokerRejected(message, **fields)`)."""

    code: str
    http_status: int | None


class BrokerRetryable(BrokerError):
    """Network failure, timeout, HTTP 429 or 5xx: the same request may succeed later."""


# BrokerRetryable.code of a request an adapter's client-side rate limit refused: it was NOT sent, so
# its outcome is known (nothing reached the broker) and a placement refused so needs no lookup.
THROTTLED = "throttled"


def throttled(e: BrokerError) -> bool:
    """True for a request our own rate limit refused before sending: not a broker error (the orders
    stage counts it as `throttled`, apart from `broker_errors`)."""
    return isinstance(e, BrokerRetryable) and e.code == THROTTLED


class BrokerRejected(BrokerError):
    """The broker refused this order (margin, input, order rules): retrying will not help."""


class BrokerFatal(BrokerError):
    """Credentials or session are invalid: nothing will work until a human acts."""


class StageError(OTradeError):
    """A stage cannot start or run (bad context, failed warm-up)."""
