"""The REST call that opens an Upstox feed: GET /v3/feed/market-data-feed/authorize -> a socket URL.

Plain urllib rather than the SDK's ApiClient: the SDK builds a thread pool per client and has no
default timeout (brokers.md §2.1), and its response model maps only the deprecated camelCase key
(brokers.md §2.3). The request goes to a configurable host (`broker.upstox.host`), so a local server
can stand in for api.upstox.com.

Failures are classified the way common/errors.py defines them:
- 401 / 403, or an invalid-token error code: BrokerFatal. The access token is wrong or expired
  (Upstox tokens die at 03:30 IST); retrying only hammers the API. A redirect is fatal too: we never
  follow one, so the bearer token cannot leak to another host.
- 429, 5xx, a timeout, a refused or reset connection, or a 200 whose body is not the success
  envelope: BrokerRetryable.
- Any other 4xx: BrokerFatal (the request itself is wrong; nothing will work until a human acts).
Messages name the host and the HTTP status, never the token or the returned URL (its `code` is a
single-use credential).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

from common.errors import BrokerFatal, BrokerRetryable, ConfigError
from feed.sources.upstox.protocol import (AUTHORIZE_PATH, ERROR_INVALID_TOKEN, error_codes,
                                          parse_authorize_response)

_MAX_BODY = 1 << 16


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None   # urllib then raises HTTPError with the 3xx status


_opener = urllib.request.build_opener(_NoRedirect)


def check_host(host: str) -> str:
    """`host` without a trailing slash; ConfigError unless it is an http(s) URL with a host name."""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{host!r} is not an http(s) URL", path="broker.upstox.host")
    return host.rstrip("/")


def authorize_feed(
    host: str, access_token: str, timeout_s: float, path: str = AUTHORIZE_PATH
) -> str:
    """The single-use websocket URL for one feed connection (`path`: the market data feed's
    authorize call, or the portfolio stream's, orderstream.py).

    Raises BrokerFatal or BrokerRetryable (see the module docstring); never returns an empty URL.
    """
    url = check_host(host) + path
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {access_token}",
                                                   "Accept": "application/json"})
    where = urlsplit(url).netloc
    try:
        with _opener.open(request, timeout=timeout_s) as response:
            body = response.read(_MAX_BODY)
    except urllib.error.HTTPError as e:
        raise _classify(e.code, _read_body(e), where) from None
    except (urllib.error.URLError, OSError, ValueError) as e:   # refused, reset, DNS, timeout
        reason = getattr(e, "reason", e)
        raise BrokerRetryable(f"Upstox feed authorize at {where} failed: {type(reason).__name__}: "
                              f"{str(reason)[:200]}", code="network") from None
    uri = parse_authorize_response(body)
    if uri is None:
        raise BrokerRetryable(
            f"Upstox feed authorize at {where} returned a body without a websocket URL",
            code="bad_response",
            http_status=200,
        )
    return uri


def _read_body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read(_MAX_BODY) or b""
    except OSError:
        return b""
    finally:
        error.close()


def _classify(status: int, body: bytes, where: str) -> Exception:
    codes = error_codes(body)
    code = codes[0] if codes else str(status)
    prefix = f"Upstox feed authorize at {where} failed with HTTP {status}"
    if status in (401, 403) or ERROR_INVALID_TOKEN in codes:
        return BrokerFatal(
            f"{prefix} ({code}): the access token is invalid or expired (Upstox tokens "
            "expire at 03:30 IST); log in again and set a fresh UPSTOX_ACCESS_TOKEN",
            code=code,
            http_status=status,
        )
    if status == 429 or status >= 500:
        return BrokerRetryable(f"{prefix} ({code})", code=code, http_status=status)
    if 300 <= status < 400:
        return BrokerFatal(
            f"{prefix}: a redirect, which is never followed with a bearer token; check "
            "broker.upstox.host",
            code=code,
            http_status=status,
        )
    return BrokerFatal(f"{prefix} ({code}): the request was refused", code=code, http_status=status)
