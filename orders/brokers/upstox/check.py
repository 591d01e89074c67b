"""`python -m orders.brokers.upstox.check`: is today's Upstox session good, and which static IPs are
registered for its orders?

1. With `--login`, first runs the daily login: prints Upstox's authorization URL, reads the code (or
   the whole redirect URL) pasted back, exchanges it for the day's token and stores
   UPSTOX_ACCESS_TOKEN in .env. This is the morning routine in one command:
   `python -m orders.brokers.upstox.check --login` (`--login-code CODE` when the code is at hand).
2. Calls GET /v2/user/profile: a session Upstox refuses (expired at 03:30 IST, or revoked after a
   static-IP change) fails here, before any run.
3. Prints the user id, name and broker, the API key (app, masked) and the static IPs registered for
   API orders (GET /v2/user/ip). No static IP registered: exit 1, orders would all be refused.
4. The egress IP: Upstox's API does not report the IP it sees, so it prints how to find it.

No token or secret is printed. `--host` points at a local Upstox server; `--local` uses its fixed
credentials. Exit 0: the session works and a static IP is registered; 1 otherwise.
"""

import argparse
import sys
from urllib.parse import parse_qs, urlsplit

from common.errors import BrokerError, ConfigError
from config.secrets import load_secrets, write_dotenv
from orders.brokers import staticip
from orders.brokers.upstox.credentials import (
    ACCESS_TOKEN_VAR,
    login_credentials,
    session_credentials,
)
from orders.brokers.upstox.http import UpstoxHttp
from orders.brokers.upstox.login import authorize_url, exchange_code


def code_of(text: str) -> str:
    """The auth code in what the user pasted: the bare code or the whole redirect URL."""
    text = text.strip()
    if "code=" in text:
        return (parse_qs(urlsplit(text).query or text.split("?", 1)[-1]).get("code") or [""])[
            0
        ].strip()
    return text


def main(argv=None, *, stdin=None, stdout=None, environ=None) -> int:
    args = _parser().parse_args(argv)
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    try:
        code = args.login_code
        if args.login and not code:
            key = login_credentials(load_secrets(environ, args.dotenv), args.local)[0].api_key
            print(f"Log in to Upstox at:\n  {authorize_url(key, args.redirect_uri)}\n"
                  "Paste the code (or the whole redirect URL): ", end="", file=stdout, flush=True)
            code = code_of(stdin.readline())
            if not code:
                print("upstox check: no code given", file=stdout)
                return 1
        if code:
            token = exchange_code(code, args.redirect_uri, load_secrets(environ, args.dotenv),
                                  host=args.host, local=args.local, timeout_s=args.timeout_s)
            write_dotenv(args.dotenv, ACCESS_TOKEN_VAR, token)
            print(f"{ACCESS_TOKEN_VAR} written to {args.dotenv} (valid until 03:30 IST tomorrow)",
                  file=stdout)
        credentials = session_credentials(load_secrets(environ, args.dotenv), args.local)
    except (BrokerError, ConfigError) as e:
        print(f"upstox check: {e}", file=stdout)
        return 1
    http = UpstoxHttp(credentials, args.host, args.host, args.timeout_s)
    try:
        profile = http.profile()
        ips = _static_ips(http, stdout)
    except BrokerError as e:
        print(f"upstox check failed: {e}", file=stdout)
        return 1
    finally:
        http.close()
    staticip.print_session("upstox", profile, credentials.api_key, stdout)
    if ips is not None and not ips:
        print(
            "No static IP is registered for API orders: every order would be refused. Register one "
            f"in {staticip.WHERE['upstox']}.",
            file=stdout,
        )
        return 1
    return 0


def _static_ips(http, stdout) -> list[str] | None:
    """The registered static IPs; None when Upstox would not say (printed, not fatal)."""
    try:
        data = http.static_ips()
    except BrokerError as e:
        print(f"Registered static IPs: not readable ({e})", file=stdout)
        return None
    data = data if isinstance(data, dict) else {}
    ips = [str(data[k]) for k in ("primary_ip", "secondary_ip") if data.get(k)]
    print(f"Registered static IPs for API orders: {', '.join(ips) or 'none'}", file=stdout)
    return ips


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m orders.brokers.upstox.check",
        description="Verify the Upstox session and its registered static IPs.",
    )
    p.add_argument(
        "--login", action="store_true", help="run the daily login first (the morning routine)"
    )
    p.add_argument(
        "--login-code", default=None, help="with or without --login: exchange this code first"
    )
    p.add_argument("--redirect-uri", default="http://127.0.0.1:8080/")
    p.add_argument("--dotenv", default=".env", help="the .env file to read (default .env)")
    p.add_argument("--host", default=None, help="REST root (a local Upstox server's URL)")
    p.add_argument("--local", action="store_true", help="use the local Upstox server's credentials")
    p.add_argument("--timeout-s", type=float, default=10.0)
    return p


if __name__ == "__main__":
    sys.exit(main())
