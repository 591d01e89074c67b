"""Upstox credentials: the only module that knows the names of the Upstox environment variables.

Values come from a `config.secrets.Secrets` (environment or `.env`), never from JSON, and never
show: `UpstoxCredentials` masks them in repr, and `secret_values` lists them so messages can be
scrubbed (orders/brokers/live.py, shared with Kite). A local Upstox server takes fixed, well-known
credentials, so tests and demos need no secrets.
"""

from orders.brokers.live import LiveCredentials

API_KEY_VAR = "UPSTOX_API_KEY"
API_SECRET_VAR = "UPSTOX_API_SECRET"       # only the login helper needs it
ACCESS_TOKEN_VAR = "UPSTOX_ACCESS_TOKEN"

LOCAL_API_KEY = "local-upstox"
LOCAL_API_SECRET = "local-upstox-secret"
LOCAL_ACCESS_TOKEN = "local-upstox-token"


class UpstoxCredentials(LiveCredentials):
    __slots__ = ()


def session_credentials(secrets, local_server: bool = False) -> UpstoxCredentials:
    """What every REST call needs (the bearer token). Raises ConfigError naming a missing
    variable."""
    if local_server:
        return UpstoxCredentials(LOCAL_API_KEY, LOCAL_ACCESS_TOKEN)
    return UpstoxCredentials(secrets.require(API_KEY_VAR), secrets.require(ACCESS_TOKEN_VAR))


def login_credentials(secrets, local_server: bool = False) -> tuple[UpstoxCredentials, str]:
    """(api key without a session, api secret) for the authorization-code exchange."""
    if local_server:
        return UpstoxCredentials(LOCAL_API_KEY), LOCAL_API_SECRET
    return UpstoxCredentials(secrets.require(API_KEY_VAR)), secrets.require(API_SECRET_VAR)
