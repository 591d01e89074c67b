"""KiteTicker's JSON side: client requests, server text messages, and the per-connection limits.

Client -> server (text): {"a": "subscribe", "v": [tokens]}, {"a": "unsubscribe", "v": [tokens]},
{"a": "mode", "v": [mode, [tokens]]}. Tokens are JSON numbers (Kite ignores strings). A new
subscription streams in quote mode until a mode message says otherwise.

Server -> client (text): {"type": "order", "data": {...order...}} when an order of the user changes
(not at placement), {"type": "error", "data": "..."}, and other broker messages the SDK ignores.

Limits: 3,000 instruments per connection, 3 connections per API key (Kite's websocket docs).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from common.errors import ConfigError

MODE_LTP = "ltp"
MODE_QUOTE = "quote"
MODE_FULL = "full"
MODES = (MODE_LTP, MODE_QUOTE, MODE_FULL)

ACTION_SUBSCRIBE = "subscribe"
ACTION_UNSUBSCRIBE = "unsubscribe"
ACTION_MODE = "mode"

MAX_TOKENS_PER_CONNECTION = 3000
MAX_CONNECTIONS_PER_API_KEY = 3


class ClientRequest(NamedTuple):
    action: str          # ACTION_*
    mode: str            # MODE_* for a mode request, "" otherwise
    tokens: tuple        # ints


class TextMessage(NamedTuple):
    kind: str            # "order", "error" or the server's own type
    data: Any            # the order dict, the error text, or whatever else came (JSON)


def subscribe_message(tokens) -> bytes:
    return orjson.dumps({"a": ACTION_SUBSCRIBE, "v": [int(t) for t in tokens]})


def unsubscribe_message(tokens) -> bytes:
    return orjson.dumps({"a": ACTION_UNSUBSCRIBE, "v": [int(t) for t in tokens]})


def mode_message(mode: str, tokens) -> bytes:
    if mode not in MODES:
        raise ValueError(f"unknown KiteTicker mode {mode!r}; expected one of {MODES}")
    return orjson.dumps({"a": ACTION_MODE, "v": [mode, [int(t) for t in tokens]]})


def parse_client_request(payload: bytes | str) -> ClientRequest | None:
    """A client's text message as the server reads it; None when it is not a valid request.

    Non-integer tokens are left out (bool is excluded on purpose: JSON true is not a token).
    """
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(msg, dict):
        return None
    action, value = msg.get("a"), msg.get("v")
    if action in (ACTION_SUBSCRIBE, ACTION_UNSUBSCRIBE) and isinstance(value, list):
        return ClientRequest(action, "", _int_tokens(value))
    if action == ACTION_MODE and isinstance(value, list) and len(value) == 2 \
            and value[0] in MODES and isinstance(value[1], list):
        return ClientRequest(action, value[0], _int_tokens(value[1]))
    return None


def _int_tokens(values: list) -> tuple:
    return tuple(v for v in values if isinstance(v, int) and not isinstance(v, bool))


def order_update_message(order: dict) -> bytes:
    return orjson.dumps({"type": "order", "data": order})


def error_message(text: str) -> bytes:
    return orjson.dumps({"type": "error", "data": text})


def parse_text_message(payload: bytes | str) -> TextMessage | None:
    """A server text message as the client reads it; None for anything that is not a JSON object
    with a string "type" (the SDK drops those too). An order update without a dict payload is
    None."""
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        return None
    kind, data = msg["type"], msg.get("data")
    if kind == "order" and not isinstance(data, dict):
        return None
    if kind == "error":
        data = "" if data is None else str(data)
    return TextMessage(kind, data)


def split_for_connections(tokens, per_connection: int = MAX_TOKENS_PER_CONNECTION,
                          max_connections: int = MAX_CONNECTIONS_PER_API_KEY) -> list[list[int]]:
    """Deal unique tokens into as few connections as the per-connection limit allows."""
    unique = sorted({int(t) for t in tokens})
    if not unique:
        raise ConfigError("no Kite instrument tokens to subscribe", path="feed.kite.tokens")
    chunks = [unique[i:i + per_connection] for i in range(0, len(unique), per_connection)]
    if len(chunks) > max_connections:
        raise ConfigError(
            f"{len(unique)} instruments need {len(chunks)} KiteTicker connections; Kite allows "
            f"{max_connections} per API key of {per_connection} instruments each",
            path="feed.kite.tokens")
    return chunks
