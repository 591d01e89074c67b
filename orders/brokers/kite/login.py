"""`python -m orders.brokers.kite.login`: the daily Kite login, from request token to access token.

1. Prints Kite's login URL for KITE_API_KEY; the user logs in in a browser and Kite redirects to the
   app's redirect URL with `?request_token=...&action=login&status=success`.
2. Reads the request token (or the whole redirect URL, from which it takes the token).
3. Exchanges it at POST /session/token with the checksum sha256(api_key + request_token +
   api_secret), KITE_API_SECRET coming from the environment or `.env`.
4. Stores KITE_ACCESS_TOKEN in `.env` (config.secrets.write_dotenv: atomic, mode 0600).

No token or secret is ever printed or put in an error message. `--root` points the exchange at a
local Kite server (localvenue/kite/server.py) for tests. Exit codes: 0 stored, 1 the
exchange failed, 2 missing credentials or no request token.
"""

import argparse
import sys
from urllib.parse import parse_qs, urlsplit

from common.errors import BrokerError, ConfigError
from config.secrets import load_secrets, write_dotenv
from orders.brokers.kite.credentials import ACCESS_TOKEN_VAR, login_credentials
from orders.brokers.kite.http import KiteHttp


def request_token_of(text: str) -> str:
    """The request token in what the user pasted: the bare token or the redirect URL."""
    text = text.strip()
    if "request_token=" in text:
        query = urlsplit(text).query or text.split("?", 1)[-1]
        return (parse_qs(query).get("request_token") or [""])[0].strip()
    return text


def main(argv=None, *, stdin=None, stdout=None, environ=None) -> int:
    args = _parser().parse_args(argv)
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    try:
        credentials, api_secret = login_credentials(load_secrets(environ, args.dotenv))
    except ConfigError as e:
        print(f"kite login: {e}", file=stdout)
        return 2
    http = KiteHttp(credentials, args.root, args.timeout_s, extra_secrets=(api_secret,))
    try:
        print(f"Log in to Kite at:\n  {http.login_url()}\n", file=stdout)
        token = args.request_token or _ask(stdin, stdout)
        token = request_token_of(token or "")
        if not token:
            print("kite login: no request token given", file=stdout)
            return 2
        session = http.generate_session(token, api_secret)
        if not session.get("access_token"):
            print("kite login failed: the session answer holds no access token", file=stdout)
            return 1
        write_dotenv(args.dotenv, ACCESS_TOKEN_VAR, session["access_token"])
    except BrokerError as e:
        print(f"kite login failed: {e}", file=stdout)
        return 1
    except OSError as e:
        print(f"kite login: cannot write {args.dotenv}: {type(e).__name__}", file=stdout)
        return 1
    except ConfigError as e:
        print(f"kite login: {e}", file=stdout)
        return 2
    finally:
        http.close()
    user = session.get("user_id") or "?"
    print(
        f"Logged in as {user}; {ACCESS_TOKEN_VAR} stored in {args.dotenv} (mode 0600).", file=stdout
    )
    return 0


def _ask(stdin, stdout) -> str:
    print("Paste the request_token (or the whole redirect URL): ", end="", file=stdout, flush=True)
    return stdin.readline()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m orders.brokers.kite.login",
                                description="Exchange a Kite request token for an access token.")
    p.add_argument(
        "--dotenv", default=".env", help="the .env file to read and update (default .env)"
    )
    p.add_argument("--root", default=None, help="REST root, e.g. a local Kite server's URL")
    p.add_argument("--request-token", default=None,
                   help="the request token (or redirect URL); asked for when omitted")
    p.add_argument("--timeout-s", type=float, default=7.0)
    return p


if __name__ == "__main__":
    sys.exit(main())
