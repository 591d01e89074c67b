"""`python -m feed.history`: download broker candles, or turn them into a replay file.

    python -m feed.history kite SBIN=779521 INFY=408065 --from 2024-01-01 --to 2024-05-31
        --interval minute --out data/hist
    python -m feed.history upstox SBIN --instruments NSE.json.gz --from 2024-01-01 --to 2024-05-31
        --interval day --out data/hist
    python -m feed.history to-replay data/hist --interval minute --out data/sbin.parquet

A symbol is `SYMBOL=KEY` (Kite's numeric instrument_token, Upstox's instrument_key) or a bare symbol
(`SBIN`, `NFO:NIFTY26MARFUT`) looked up in the broker's instrument dump given with --instruments
(config/instruments_dump.py). Credentials come only from the environment or `.env` (KITE_API_KEY +
KITE_ACCESS_TOKEN, or UPSTOX_ACCESS_TOKEN) and are never printed. `--root` points the SDK at another
REST root (a local venue).

Output: a progress bar on a terminal (stderr), the summary as one JSON object on stdout, and what
went wrong (failed symbols, malformed candles by reason, a refused token and how to fix it) on
stderr. Exit codes: 0 done, 1 some symbol failed (named), 2 bad arguments or configuration,
3 the broker refused the token: nothing more was sent; log in again and rerun (kept days are kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import orjson

from common.clock import IST
from common.errors import ConfigError
from config.secrets import load_secrets
from feed.history.download import Download
from feed.history.plan import INTERVALS, RATE_LIMITS, parse_day
from feed.history.progress import chunk_bar
from feed.history.store import HistoryStore, check_symbol
from feed.history.ratelimit import RateLimiter

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TOKEN = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m feed.history", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for broker in ("kite", "upstox"):
        d = sub.add_parser(broker, help=f"download {broker} candles")
        d.add_argument("symbols", nargs="+", metavar="SYMBOL[=KEY]")
        d.add_argument("--from", dest="first", required=True, metavar="YYYY-MM-DD")
        d.add_argument("--to", dest="last", required=True, metavar="YYYY-MM-DD")
        d.add_argument("--interval", choices=INTERVALS, required=True)
        d.add_argument("--oi", action="store_true", help="ask for open interest too (F&O)")
        d.add_argument("--out", required=True, metavar="DIR")
        d.add_argument(
            "--instruments", metavar="DUMP", help="the broker's instrument dump, for bare symbols"
        )
        d.add_argument("--exchange", default="NSE", help="exchange of bare symbols (NSE)")
        d.add_argument("--root", metavar="URL", help="REST root (default: the broker's own)")
    r = sub.add_parser("to-replay", help="write a replay file from a history directory")
    r.add_argument("dir")
    r.add_argument("--out", required=True, metavar="FILE", help=".parquet or .csv")
    r.add_argument("--interval", choices=INTERVALS, default="minute")
    r.add_argument("--symbols", nargs="+")
    r.add_argument("--from", dest="first", metavar="YYYY-MM-DD")
    r.add_argument("--to", dest="last", metavar="YYYY-MM-DD")
    return p


def resolve_keys(broker: str, args, client_type) -> dict[str, str]:
    """symbol -> broker key, from SYMBOL=KEY or the instrument dump; ValueError/ConfigError naming
    it."""
    keys, bare = {}, []
    for item in args.symbols:
        symbol, sep, key = item.partition("=")
        if sep:
            keys[check_symbol(symbol.rsplit(":", 1)[-1])] = client_type.check_key(
                symbol, key.strip()
            )
        else:
            bare.append(symbol)
    if bare:
        if not args.instruments:
            raise ValueError(
                f"{', '.join(bare)}: give SYMBOL=KEY or the instrument dump with --instruments"
            )
        from config.instruments_dump import load_kite_csv, load_upstox_bod

        load = load_kite_csv if broker == "kite" else load_upstox_bod
        for entry in load(args.instruments, bare, exchange=args.exchange):
            key = str(entry["token"]) if broker == "kite" else entry["broker_key"]
            keys[check_symbol(entry["symbol"])] = client_type.check_key(entry["symbol"], key)
    return keys


def open_client(broker: str, root: str | None, secrets):
    """The broker's history client with credentials from the environment / .env (ConfigError if
    unset)."""
    if broker == "kite":
        from feed.history.kite import ACCESS_TOKEN_VAR, API_KEY_VAR, KiteHistory

        return KiteHistory(
            secrets.require(API_KEY_VAR), secrets.require(ACCESS_TOKEN_VAR), root=root
        )
    from feed.history.upstox import ACCESS_TOKEN_VAR, UpstoxHistory

    return UpstoxHistory(secrets.require(ACCESS_TOKEN_VAR), host=root)


def client_type(broker: str):
    if broker == "kite":
        from feed.history.kite import KiteHistory

        return KiteHistory
    from feed.history.upstox import UpstoxHistory

    return UpstoxHistory


def download(args, secrets=None, *, today: dt.date | None = None, sleep=time.sleep) -> int:
    try:
        first, last = parse_day(args.first, "--from"), parse_day(args.last, "--to")
        if first > last:
            raise ValueError(f"--from {first} is after --to {last}")
        keys = resolve_keys(args.command, args, client_type(args.command))
        client = open_client(
            args.command, args.root, secrets if secrets is not None else load_secrets()
        )
    except (ValueError, ConfigError) as e:
        print(f"feed.history: {e}", file=sys.stderr)
        return EXIT_USAGE
    today = today or dt.datetime.now(IST).date()
    try:
        job = Download(
            client,
            HistoryStore(args.out, args.interval),
            RateLimiter(RATE_LIMITS[args.command]),
            interval=args.interval,
            oi=args.oi,
            today=today,
            sleep=sleep,
        )
        chunks = job.plan(keys, first, last)
        with chunk_bar(
            len(chunks), enabled=sys.stderr.isatty(), label=f"{args.command} {args.interval}"
        ) as advance:
            report = job.run(keys, chunks, on_chunk=advance)
    finally:
        client.close()
    return finish(report)


def finish(report) -> int:
    """Print the summary (stdout, JSON) and what went wrong (stderr); the exit code."""
    sys.stdout.write(orjson.dumps(report.as_dict()).decode() + "\n")
    if report.malformed.total:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(report.malformed.counts.items()))
        named = "; ".join(f"{s} {t} ({why})" for s, t, why in report.malformed.examples[:5])
        print(
            f"feed.history: {report.malformed.total} malformed candles dropped ({reasons}): "
            f"{named}",
            file=sys.stderr,
        )
    for symbol, why in sorted(report.failed.items()):
        print(f"feed.history: {symbol} failed: {why}", file=sys.stderr)
    if report.fatal:
        print(f"feed.history: stopped: {report.fatal}", file=sys.stderr)
        return EXIT_TOKEN
    return EXIT_FAILED if report.failed else EXIT_OK


def convert(args) -> int:
    from feed.history.ticks import NoHistory, to_replay

    try:
        first = parse_day(args.first, "--from") if args.first else None
        last = parse_day(args.last, "--to") if args.last else None
        n = to_replay(args.dir, args.out, args.interval, args.symbols, first, last)
    except (ValueError, NoHistory) as e:
        print(f"feed.history to-replay: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"feed.history to-replay: {n} ticks written to {args.out}", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None, **kw) -> int:
    args = build_parser().parse_args(argv)
    return convert(args) if args.command == "to-replay" else download(args, **kw)


if __name__ == "__main__":
    sys.exit(main())
