"""The local Kite server's wire format: Kite's envelopes, error types and HTTP statuses.

    success  200 {"status": "success", "data": ...}
    error    4xx/5xx {"status": "error", "message": "...", "error_type": "<Name>", "data": null}

The SDK turns `error_type` into the exception class of that name (kiteconnect.exceptions), falling
back to GeneralException for names it lacks (MarginException, ...), with `.code` = the HTTP status;
so the status and type chosen here decide how the adapter classifies a failure. Form bodies and
query strings are decoded by localvenue/http.py decode_form (one value per key; the SDK never
repeats a key on these routes).
"""

import orjson

# Failure modes of KiteLocalServer.fail_next: (HTTP status, error type, message).
CANNED = {
    "429": (429, "NetworkException", "Too many requests"),
    "500": (500, "GeneralException", "Internal server error"),
    "502": (502, "DataException", "Upstream OMS error"),
    "503": (503, "NetworkException", "Gateway timed out"),
    "token": (403, "TokenException", "Incorrect `api_key` or `access_token`."),
    "permission": (403, "PermissionException", "Insufficient permission for that call."),
    "margin": (
        400,
        "MarginException",
        "Insufficient funds. Required margin is 95417.84 but available margin is 74251.80.",
    ),
    "order": (500, "OrderException", "Order could not be placed."),
    # An order from an IP not whitelisted (SEBI retail-algo rules). Kite's exact type and status are
    # not published: the text follows a reported one, "IP (2402:...) is not allowed" (staticip.py).
    "static_ip": (
        403,
        "PermissionException",
        "IP (203.0.113.7) is not allowed to place orders. Whitelist it on the developer console.",
    ),
}


class KiteError(Exception):
    """A Kite error response: raised by the local exchange, rendered by the server."""

    def __init__(self, http_status: int, error_type: str, message: str):
        super().__init__(message)
        self.http_status, self.error_type, self.message = http_status, error_type, message


def success_body(data) -> bytes:
    return orjson.dumps({"status": "success", "data": data})


def error_body(error: KiteError) -> bytes:
    return orjson.dumps({"status": "error", "message": error.message,
                         "error_type": error.error_type, "data": None})
