"""Kite candles through the official SDK: `KiteConnect.historical_data`, one call per chunk.

    GET /instruments/historical/{instrument_token}/{interval}?from=...&to=...&continuous=0&oi=0|1
    → {"status": "success",
       "data": {"candles": [["2017-12-15T09:15:00+0530", o, h, l, c, v(, oi)], ...]}}

The SDK turns each candle into a dict with a parsed date, and one unparsable candle makes the whole
call raise; `_RawKite` keeps the rows as sent instead (one override of the SDK's own formatting
hook), so candles.parse can drop and count that one row. Everything else is the SDK's: the request,
the auth header, the envelope and the exception for each error type.

Failures, as the order path classifies them (orders/brokers/kite/errors.py):
    TokenException / PermissionException / other 403   → BrokerFatal: stop, log in again
    HTTP 429, NetworkException, DataException, 5xx, network errors, a reply of the wrong shape
                                                        → BrokerRetryable: back off and retry
    InputException and the rest (a bad instrument token, an interval the API does not know)
                                                        → BrokerRejected: this symbol fails
No message carries a credential: the server's text is scrubbed of every secret we hold, and the
requests library's text (which quotes URLs) is replaced by the exception's class name.
"""

from __future__ import annotations

import datetime as dt

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from common.errors import (
    BrokerErrorFields,
    BrokerError,
    BrokerFatal,
    BrokerRejected,
    BrokerRetryable,
)
from config.secrets import REQUIRED_SECRETS

LOGIN_HINT = (
    "log in again with `python -m orders.brokers.kite.login` (it stores a fresh KITE_ACCESS_TOKEN "
    "in .env), then rerun: what is on disk is kept"
)
# The variables' names from config (the feed may not import orders/brokers/kite/credentials.py:
# stages never import each other); the values from the environment or .env, through config.secrets.
API_KEY_VAR, ACCESS_TOKEN_VAR = REQUIRED_SECRETS["kite"]


class _RawKite(KiteConnect):
    def _format_historical(self, data, *args):
        """The candles as sent (None for a reply without a candle list): checked row by row
        later."""
        candles = data.get("candles") if isinstance(data, dict) else None
        return candles if isinstance(candles, list) else None


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text


class KiteHistory:
    """Parameters
    ----------
    api_key, access_token : from the environment or .env (never printed).
    root : the REST root; None for Kite's own (a local server's URL in tests).
    """

    name = "kite"
    always_oi = False  # oi is sent only when asked for

    def __init__(
        self, api_key: str, access_token: str, root: str | None = None, timeout_s: float = 30.0
    ):
        self._kite = _RawKite(api_key, access_token=access_token, root=root, timeout=timeout_s)
        self._secrets = (api_key, access_token)
        self.requests_sent = 0

    @staticmethod
    def check_key(symbol: str, key: str) -> str:
        """Kite wants the numeric instrument_token."""
        if not key.isdigit():
            raise ValueError(f"{symbol}: Kite needs the numeric instrument_token, not {key!r}")
        return key

    def fetch(self, key: str, first: dt.date, last: dt.date, interval: str, oi: bool) -> list:
        """The raw candle rows of [first 00:00, last 23:59:59] IST; raises a BrokerError."""
        self.requests_sent += 1
        try:
            rows = self._kite.historical_data(int(key), f"{first.isoformat()} 00:00:00",
                                              f"{last.isoformat()} 23:59:59", interval, oi=oi)
        except Exception as e:  # noqa: BLE001 - every failure leaves classified, none raw
            raise self.classify(e) from None
        if rows is None:
            raise BrokerRetryable(
                "kite historical_data: the reply has no candle list", code="BadResponse"
            )
        return rows

    def classify(self, exc: Exception) -> BrokerError:
        if isinstance(exc, requests.exceptions.RequestException):
            return BrokerRetryable(f"kite historical_data: network error ({type(exc).__name__})",
                                   code="NetworkError")
        if not isinstance(exc, kex.KiteException):
            # The SDK indexing a reply of the wrong shape (`data: null`, a string body).
            return BrokerRetryable(f"kite historical_data: malformed reply ({type(exc).__name__})",
                                   code="BadResponse")
        kind, status = type(exc).__name__, int(getattr(exc, "code", 0) or 0)
        message = f"kite historical_data: {scrub(str(exc), self._secrets)} ({kind}, HTTP {status})"
        fields: BrokerErrorFields = {"code": kind, "http_status": status}
        if isinstance(exc, kex.TokenException):
            return BrokerFatal(
                f"{message}: the access token was refused (expired or wrong); {LOGIN_HINT}",
                **fields,
            )
        if isinstance(exc, kex.PermissionException) or status == 403:
            return BrokerFatal(
                f"{message}: not permitted (historical data is a Kite Connect add-on, "
                f"or the session is invalid); {LOGIN_HINT}",
                **fields,
            )
        if (
            isinstance(exc, (kex.NetworkException, kex.DataException))
            or status == 429
            or status >= 500
        ):
            return BrokerRetryable(message, **fields)
        return BrokerRejected(message, **fields)

    def close(self) -> None:
        self._kite.reqsession.close()
