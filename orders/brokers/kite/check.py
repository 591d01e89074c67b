"""`python -m orders.brokers.kite.check`: is today's Kite session good, and from which IP must
orders go?

1. With `--login`, runs the daily login first (`python -m orders.brokers.kite.login`: login URL,
   request token, KITE_ACCESS_TOKEN stored in .env). This is the morning routine in one command:
   `python -m orders.brokers.kite.check --login`.
2. Calls GET /user/profile with KITE_API_KEY and KITE_ACCESS_TOKEN (environment, then .env): a
   session that Kite refuses (expired at its daily logout, or revoked) fails here, before any run.
3. Prints the session's user id, name and broker, and which API key (app) it belongs to (masked).
4. The egress IP: Kite's API does not report the IP it sees (and only order calls are checked
   against the whitelist), so it prints how to find it and where it must be whitelisted.

No token or secret is printed. `--root` points at a local Kite server; `--local` uses that server's
fixed credentials. Exit 0: the session works; 1: it does not (or the credentials are missing).
"""

import argparse
import sys

from common.errors import BrokerError, ConfigError
from config.secrets import load_secrets
from orders.brokers import staticip
from orders.brokers.kite import login
from orders.brokers.kite.credentials import session_credentials
from orders.brokers.kite.http import KiteHttp


def main(argv=None, *, stdin=None, stdout=None, environ=None) -> int:
    args = _parser().parse_args(argv)
    stdout = stdout or sys.stdout
    if args.login:
        login_argv = ["--dotenv", args.dotenv, "--timeout-s", str(args.timeout_s)]
        login_argv += ["--root", args.root] if args.root else []
        login_argv += ["--request-token", args.request_token] if args.request_token else []
        if login.main(login_argv, stdin=stdin, stdout=stdout, environ=environ) != 0:
            return 1
    try:
        credentials = session_credentials(load_secrets(environ, args.dotenv), args.local)
    except ConfigError as e:
        print(f"kite check: {e}", file=stdout)
        return 1
    http = KiteHttp(credentials, args.root, args.timeout_s)
    try:
        profile = http.profile()
    except BrokerError as e:
        print(f"kite check failed: {e}", file=stdout)
        return 1
    finally:
        http.close()
    staticip.print_session("kite", profile, credentials.api_key, stdout)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m orders.brokers.kite.check",
        description="Verify the Kite session and say where orders must come from.",
    )
    p.add_argument(
        "--login", action="store_true", help="run the daily login first (the morning routine)"
    )
    p.add_argument(
        "--request-token", default=None, help="with --login: the request token (or redirect URL)"
    )
    p.add_argument("--dotenv", default=".env", help="the .env file to read (default .env)")
    p.add_argument("--root", default=None, help="REST root, e.g. a local Kite server's URL")
    p.add_argument("--local", action="store_true", help="use the local Kite server's credentials")
    p.add_argument("--timeout-s", type=float, default=7.0)
    return p


if __name__ == "__main__":
    sys.exit(main())
