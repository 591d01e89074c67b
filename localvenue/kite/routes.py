"""The local Kite server's route table: (method, path) → handler name and path arguments.

Paths are matched whole; an unknown route is Kite's 404 (GeneralException, which the SDK raises as
GeneralException with code 404).
"""

import re

from localvenue.kite.protocol import KiteError

_ROUTES = [
    ("POST", r"/orders/(?P<variety>[a-z]+)", "place"),
    ("PUT", r"/orders/(?P<variety>[a-z]+)/(?P<order_id>\d+)", "modify"),
    ("DELETE", r"/orders/(?P<variety>[a-z]+)/(?P<order_id>\d+)", "cancel"),
    ("GET", r"/orders", "orders"),
    ("GET", r"/orders/(?P<order_id>\d+)", "order_history"),
    ("GET", r"/orders/(?P<order_id>\d+)/trades", "order_trades"),
    ("GET", r"/trades", "trades"),
    ("GET", r"/portfolio/positions", "positions"),
    ("GET", r"/gtt/triggers", "gtts"),
    ("POST", r"/gtt/triggers", "place_gtt"),
    ("GET", r"/gtt/triggers/(?P<trigger_id>\d+)", "gtt"),
    ("DELETE", r"/gtt/triggers/(?P<trigger_id>\d+)", "delete_gtt"),
    ("POST", r"/session/token", "session"),
    ("GET", r"/user/profile", "profile"),
    (
        "GET",
        r"/instruments/historical/(?P<instrument_token>\d+)/(?P<interval>[0-9a-z]+)",
        "historical",
    ),
]
_COMPILED = [(m, re.compile(p), name) for m, p, name in _ROUTES]


def route(method: str, path: str) -> tuple[str, dict]:
    for m, pattern, name in _COMPILED:
        match = pattern.fullmatch(path)
        if m == method and match:
            return name, match.groupdict()
    raise KiteError(404, "GeneralException", f"Route not found: {method} {path}")
