"""`python -m orders.brokers.upstox.login`: exchange Upstox's auth code for the day's access token.

Without --code it prints the authorization URL to open in a browser; Upstox redirects to
--redirect-uri with `?code=...` (single-use). With --code it calls POST
/v2/login/authorization/token and stores UPSTOX_ACCESS_TOKEN in the .env file
(config.secrets.write_dotenv, mode 0600). The token is never printed. It expires at 03:30 IST the
next morning, so this runs once per trading day. UPSTOX_API_KEY and UPSTOX_API_SECRET come from the
environment or .env; --local uses the local server's fixed credentials (pass its URL as --host).
"""

import argparse
import sys
from urllib.parse import urlencode

from common.errors import BrokerError, ConfigError
from config.secrets import load_secrets, write_dotenv
from orders.brokers.upstox.credentials import ACCESS_TOKEN_VAR, login_credentials
from orders.brokers.upstox.http import UpstoxHttp

AUTHORIZE_URL = "https://api.upstox.com/v2/login/authorization/dialog"


def authorize_url(api_key: str, redirect_uri: str) -> str:
    query = {"response_type": "code", "client_id": api_key, "redirect_uri": redirect_uri}
    return f"{AUTHORIZE_URL}?{urlencode(query)}"


def exchange_code(code: str, redirect_uri: str, secrets, *, host=None, local=False,
                  timeout_s: float = 10.0) -> str:
    """The access token for a single-use auth code. Raises BrokerError / ConfigError."""
    credentials, api_secret = login_credentials(secrets, local)
    http = UpstoxHttp(credentials, host, host, timeout_s)
    try:
        data = http.token(code, credentials.api_key, api_secret, redirect_uri)
    finally:
        http.close()
    token = data.get("access_token") if isinstance(data, dict) else None
    if not token:
        raise BrokerError("upstox token: the answer has no access_token", code="BadResponse")
    return str(token)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orders.brokers.upstox.login", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--code", help="the code from the redirect URL")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8080/")
    parser.add_argument("--dotenv", default=".env")
    parser.add_argument("--host", default=None, help="REST root (a local server's URL)")
    parser.add_argument("--local", action="store_true", help="use the local server's credentials")
    args = parser.parse_args(argv)
    try:
        secrets = load_secrets(dotenv_path=args.dotenv)
        if not args.code:
            credentials, _ = login_credentials(secrets, args.local)
            print(f"Open this URL, log in, and run again with --code <code from the redirect>:\n"
                  f"{authorize_url(credentials.api_key, args.redirect_uri)}")
            return 0
        token = exchange_code(
            args.code, args.redirect_uri, secrets, host=args.host, local=args.local
        )
        write_dotenv(args.dotenv, ACCESS_TOKEN_VAR, token)
    except (BrokerError, ConfigError) as e:
        print(f"login failed: {e}", file=sys.stderr)
        return 1
    print(f"{ACCESS_TOKEN_VAR} written to {args.dotenv} (valid until 03:30 IST tomorrow)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
