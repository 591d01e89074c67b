"""Upstox Market Data Feed V3's JSON side: the authorize call's envelope, subscription requests,
limits.

Authorize (REST): GET /v3/feed/market-data-feed/authorize with `Authorization: Bearer <token>`
returns `{"status": "success", "data": {"authorized_redirect_uri": "wss://...?requestId=..&code=..",
"authorizedRedirectUri": "..."}}`. The URI is single-use, so every (re)connect authorizes again. The
camelCase key is deprecated and is the only one the SDK's model maps (brokers.md §2.3), so we read
the snake_case key first and fall back to the camelCase one. Errors come back as
`{"status": "error", "errors": [{"errorCode": "UDAPI100050", "message": ...}]}` (brokers.md §2.2).

Client -> server: `{"guid": "<uuid>", "method": "sub"|"unsub"|"change_mode", "data": {"mode": ...,
"instrumentKeys": [...]}}`, sent as a BINARY websocket frame, as the SDK's feeder does.

Limits per connection (V3; one connection per app and user): ltpc 5,000 keys, full 2,000.
"""

from __future__ import annotations

import uuid
from typing import NamedTuple

import orjson

from common.errors import ConfigError

AUTHORIZE_PATH = "/v3/feed/market-data-feed/authorize"
DEFAULT_HOST = "https://api.upstox.com"

MODE_LTPC = "ltpc"
MODE_FULL = "full"
MODE_OPTION_GREEKS = "option_greeks"
MODE_FULL_D30 = "full_d30"
MODES = (MODE_LTPC, MODE_FULL)            # what OTrade subscribes in
SERVER_MODES = (MODE_LTPC, MODE_FULL, MODE_OPTION_GREEKS, MODE_FULL_D30)

METHOD_SUB = "sub"
METHOD_UNSUB = "unsub"
METHOD_CHANGE_MODE = "change_mode"
METHODS = (METHOD_SUB, METHOD_UNSUB, METHOD_CHANGE_MODE)

MAX_KEYS = {MODE_LTPC: 5000, MODE_FULL: 2000, MODE_OPTION_GREEKS: 3000, MODE_FULL_D30: 50}

ERROR_INVALID_TOKEN = "UDAPI100050"
ERROR_TOO_MANY_REQUESTS = "UDAPI10005"


class FeedRequest(NamedTuple):
    guid: str
    method: str          # METHOD_*
    mode: str            # "" when the request names none (unsub)
    keys: tuple          # instrument keys, str


def subscription_message(keys, mode: str, method: str = METHOD_SUB) -> bytes:
    """The request bytes; send them as a binary frame."""
    if method not in METHODS:
        raise ValueError(f"unknown Upstox feed method {method!r}; expected one of {METHODS}")
    data: dict[str, str | list[str]] = {"instrumentKeys": [str(k) for k in keys]}
    if method != METHOD_UNSUB:
        if mode not in SERVER_MODES:
            raise ValueError(f"unknown Upstox feed mode {mode!r}; expected one of {SERVER_MODES}")
        data["mode"] = mode
    return orjson.dumps({"guid": str(uuid.uuid4()), "method": method, "data": data})


def parse_request(payload: bytes | str) -> FeedRequest | None:
    """A client request as the server reads it; None when it is not a valid one."""
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if (
        not isinstance(msg, dict)
        or msg.get("method") not in METHODS
        or not isinstance(msg.get("data"), dict)
    ):
        return None
    data = msg["data"]
    keys, mode = data.get("instrumentKeys"), data.get("mode", "")
    if not isinstance(keys, list) or (msg["method"] != METHOD_UNSUB and mode not in SERVER_MODES):
        return None
    return FeedRequest(
        str(msg.get("guid", "")),
        msg["method"],
        mode if isinstance(mode, str) else "",
        tuple(k for k in keys if isinstance(k, str)),
    )


def check_key_count(count: int, mode: str) -> None:
    """Refuse to start a subscription Upstox would refuse (or silently cut)."""
    if count == 0:
        raise ConfigError(
            "no Upstox instrument keys to subscribe: set broker_key on the instruments",
            path="instruments.broker_key",
        )
    if count > MAX_KEYS[mode]:
        raise ConfigError(
            f"{count} instruments exceed Upstox's {MAX_KEYS[mode]} keys per connection in "
            f"{mode!r} mode",
            path="feed.upstox.mode",
        )


def authorize_response(uri: str) -> bytes:
    """The success envelope the real endpoint returns (both spellings of the URI key)."""
    return orjson.dumps({"status": "success",
                         "data": {"authorized_redirect_uri": uri, "authorizedRedirectUri": uri}})


def error_response(code: str, message: str) -> bytes:
    return orjson.dumps({"status": "error", "errors": [
        {"errorCode": code, "message": message, "propertyPath": None, "invalidValue": None}]})


def parse_authorize_response(body: bytes) -> str | None:
    """The socket URI of a success envelope; None when the body is not one."""
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if (
        not isinstance(msg, dict)
        or msg.get("status") != "success"
        or not isinstance(msg.get("data"), dict)
    ):
        return None
    data = msg["data"]
    uri = data.get("authorized_redirect_uri") or data.get("authorizedRedirectUri")
    return uri if isinstance(uri, str) and uri.startswith(("ws://", "wss://")) else None


def error_codes(body: bytes) -> tuple[str, ...]:
    """The `errorCode`s of an error envelope (empty when the body is not one)."""
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ()
    errors = msg.get("errors") if isinstance(msg, dict) else None
    if not isinstance(errors, list):
        return ()
    codes = (e.get("errorCode") or e.get("error_code") for e in errors if isinstance(e, dict))
    return tuple(c for c in codes if isinstance(c, str))
