"""Kite credentials: the only module that knows the names of the Kite environment variables.

Values come from a `config.secrets.Secrets` (environment or `.env`), never from JSON, and never
show: `KiteCredentials` masks them in repr, and `secret_values` lists them so error messages can be
scrubbed (orders/brokers/live.py, shared with Upstox). A local Kite server takes fixed, well-known
credentials, so tests and demos need no secrets.
"""

from orders.brokers.live import LiveCredentials

API_KEY_VAR = "KITE_API_KEY"
ACCESS_TOKEN_VAR = "KITE_ACCESS_TOKEN"
API_SECRET_VAR = "KITE_API_SECRET"   # only the login helper needs it

LOCAL_API_KEY = "local"
LOCAL_ACCESS_TOKEN = "local-token"


class KiteCredentials(LiveCredentials):
    __slots__ = ()


def session_credentials(secrets, local_server: bool = False) -> KiteCredentials:
    """What every REST call needs. Raises ConfigError naming the missing variable."""
    if local_server:
        return KiteCredentials(LOCAL_API_KEY, LOCAL_ACCESS_TOKEN)
    return KiteCredentials(secrets.require(API_KEY_VAR), secrets.require(ACCESS_TOKEN_VAR))


def login_credentials(secrets) -> tuple[KiteCredentials, str]:
    """(api key without a session, api secret) for the request-token exchange."""
    return KiteCredentials(secrets.require(API_KEY_VAR)), secrets.require(API_SECRET_VAR)
