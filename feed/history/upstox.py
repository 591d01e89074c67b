"""Upstox candles through the official SDK: `HistoryV3Api.get_historical_candle_data1`, one call per
chunk.

    GET /v3/historical-candle/{instrument_key}/{unit}/{interval}/{to_date}/{from_date}
    → {"status": "success",
       "data": {"candles": [["2025-01-02T15:29:00+05:30", o, h, l, c, v, oi], ...]}}
      newest candle first; both dates inclusive
      (upstox.com/developer/api-documentation/v3/get-historical-candle-data)

minute → unit "minutes", interval 1; 5minute → "minutes", 5; day → "days", 1. The reply is read raw
(`_preload_content=False`) and parsed with orjson, as the order path does
(orders/brokers/upstox/http.py): the SDK's model deserialisation would fail the whole call on one
bad candle. The SDK declares no auth for this endpoint (`auth_settings = []`) while Upstox's
documented request carries `Authorization: Bearer <token>`, so the bearer is set as the client's
default header. Every call passes `_request_timeout` (the SDK's default is none) and urllib3 retries
are off (we retry, with backoff, and count what we send).

Failures, as the order path classifies them (orders/brokers/upstox/errors.py):
    HTTP 401, UDAPI100050 / UDAPI100016 (token or credentials), 403  → BrokerFatal: log in again
    HTTP 429 (UDAPI10005), 5xx, network errors, a non-JSON reply      → BrokerRetryable
    other 4xx (a bad instrument key, a range over the limit)          → BrokerRejected: symbol fails
Only the `message` of Upstox's error envelope is quoted (scrubbed), never ApiException's own text,
which includes the request headers.
"""

from __future__ import annotations

import datetime as dt

import orjson
import upstox_client
import urllib3
from upstox_client.rest import ApiException

from common.errors import (
    BrokerErrorFields,
    BrokerError,
    BrokerFatal,
    BrokerRejected,
    BrokerRetryable,
)
from config.secrets import REQUIRED_SECRETS
from feed.history.kite import scrub

LOGIN_HINT = (
    "log in again with `python -m orders.brokers.upstox.login` (it stores a fresh "
    "UPSTOX_ACCESS_TOKEN in .env; tokens expire at 03:30 IST), then rerun: what is on disk is kept"
)
API_KEY_VAR, ACCESS_TOKEN_VAR = REQUIRED_SECRETS["upstox"]     # names from config, as kite.py
UNITS = {"minute": ("minutes", 1), "5minute": ("minutes", 5), "day": ("days", 1)}
FATAL_CODES = frozenset({"UDAPI100050", "UDAPI100016"})
RATE_LIMITED = "UDAPI10005"


def _envelope_error(doc) -> tuple[str, str]:
    """(errorCode, message) of the first error of an Upstox error body; ("", "") if none."""
    try:
        if isinstance(doc, (bytes, str)):
            doc = orjson.loads(doc)
        first = (doc.get("errors") or [{}])[0]
        return str(first.get("errorCode") or first.get("error_code") or ""), str(
            first.get("message") or ""
        )
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
        return "", ""


class UpstoxHistory:
    """Parameters
    ----------
    access_token : from the environment or .env (never printed).
    host : the REST root; None for Upstox's own (a local server's URL in tests).
    """

    name = "upstox"
    always_oi = True         # every V3 candle carries oi (0 where there is none)

    def __init__(self, access_token: str, host: str | None = None, timeout_s: float = 30.0):
        conf = upstox_client.Configuration()
        if host:
            conf.host = host.rstrip("/")
        conf.access_token = access_token
        self._client = upstox_client.ApiClient(conf, "Authorization", f"Bearer {access_token}")
        self._client.rest_client.pool_manager.connection_pool_kw["retries"] = False
        self._api = upstox_client.HistoryV3Api(self._client)
        self._timeout = (float(timeout_s), float(timeout_s))
        self._secrets = (access_token,)
        self.requests_sent = 0

    @staticmethod
    def check_key(symbol: str, key: str) -> str:
        """Upstox wants the instrument_key, SEGMENT|ID (NSE_EQ|INE062A01020)."""
        if "|" not in key:
            raise ValueError(
                f"{symbol}: Upstox needs the instrument_key (like NSE_EQ|INE062A01020), not {key!r}"
            )
        return key

    def fetch(self, key: str, first: dt.date, last: dt.date, interval: str, oi: bool) -> list:
        """The raw candle rows of IST days [first, last]; raises a BrokerError. Upstox always sends
        oi (0 where there is none): `oi` changes nothing on the wire."""
        unit, count = UNITS[interval]
        self.requests_sent += 1
        try:
            response = self._api.get_historical_candle_data1(
                key, unit, count, last.isoformat(), first.isoformat(),
                _preload_content=False, _request_timeout=self._timeout)
            status, raw = int(response.status), response.data
            response.release_conn()
        except ApiException as e:
            raise self._from_response(int(e.status or 0), e.body) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise BrokerRetryable(f"upstox historical-candle: network error ({type(e).__name__})",
                                  code="NetworkError") from None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BrokerRetryable(
                "upstox historical-candle: the reply is not JSON", code="BadResponse"
            ) from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            raise self._from_response(status, doc)
        candles = (
            (doc.get("data") or {}).get("candles") if isinstance(doc.get("data"), dict) else None
        )
        if not isinstance(candles, list):
            raise BrokerRetryable(
                "upstox historical-candle: the reply has no candle list", code="BadResponse"
            )
        return candles

    def _from_response(self, status: int, body) -> BrokerError:
        code, text = _envelope_error(body)
        message = (f"upstox historical-candle: {scrub(text, self._secrets) or 'no message'} "
                   f"({code or '-'}, HTTP {status})")
        fields: BrokerErrorFields = {"code": code or f"HTTP{status}", "http_status": status}
        if status == 401 or code in FATAL_CODES:
            return BrokerFatal(
                f"{message}: the access token was refused (expired or wrong); {LOGIN_HINT}",
                **fields,
            )
        if status == 403:
            return BrokerFatal(
                f"{message}: not permitted for this app or user; {LOGIN_HINT}", **fields
            )
        if status in (0, 429) or code == RATE_LIMITED or status >= 500:
            return BrokerRetryable(message, **fields)
        return BrokerRejected(message, **fields)

    def close(self) -> None:
        self._client.rest_client.pool_manager.clear()
        self._client.pool.close()
        self._client.pool.join()
