"""`python -m config.instruments_cli`: the config's `instruments` list from a broker's daily dump.

    python -m config.instruments_cli kite instruments.csv RELIANCE INFY NFO:NIFTY26MARFUT
    python -m config.instruments_cli upstox NSE.json.gz RELIANCE INFY --tick-unit paise
    python -m config.instruments_cli kite instruments.csv RELIANCE --ref-price RELIANCE=1480
        --into my.json

Prints `{"instruments": [...]}` (tick size, lot size, tokens, broker keys from the dump), or with
`--into FILE` replaces the `instruments` of that config file in place, keeping its other sections.
Kite's equity dump carries last_price 0.0, and a config instrument needs a ref_price: give it with
`--ref-price SYMBOL=PRICE` (it is only the sim source's starting price and a sanity reference).
Unknown symbols stop it with one message naming all of them and near spellings; exit code 2.
"""

import argparse
import os
import sys

import orjson

from common.errors import ConfigError
from config.instruments_dump import load_kite_csv, load_upstox_bod


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m config.instruments_cli", description=__doc__.splitlines()[0]
    )
    p.add_argument("broker", choices=("kite", "upstox"))
    p.add_argument("dump", help="Kite's instruments CSV, or Upstox's BOD JSON (.json or .json.gz)")
    p.add_argument("symbols", nargs="+", help="RELIANCE (on --exchange) or EXCHANGE:SYMBOL")
    p.add_argument("--exchange", default="NSE", help="exchange of symbols given without one (NSE)")
    p.add_argument(
        "--tick-unit",
        choices=("paise", "rupees"),
        default="paise",
        help="unit of tick_size in an Upstox dump (default paise; see config/instruments_dump.py)",
    )
    p.add_argument("--ref-price", action="append", default=[], metavar="SYMBOL=PRICE")
    p.add_argument(
        "--into", metavar="CONFIG", help="replace the instruments of this JSON config file"
    )
    return p


def _ref_prices(pairs: list[str]) -> dict[str, float]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            out[name.strip().upper()] = float(value)
        except ValueError:
            raise ConfigError(f"--ref-price {pair!r}: expected SYMBOL=PRICE") from None
        if not sep or out[name.strip().upper()] <= 0:
            raise ConfigError(f"--ref-price {pair!r}: expected SYMBOL=PRICE with a price > 0")
    return out


def instruments(args) -> list[dict]:
    if args.broker == "kite":
        rows = load_kite_csv(args.dump, args.symbols, args.exchange)
    else:
        rows = load_upstox_bod(args.dump, args.symbols, args.exchange, tick_unit=args.tick_unit)
    prices = _ref_prices(args.ref_price)
    missing = []
    for row in rows:
        given = prices.get(row["symbol"].upper())
        if given:
            row["ref_price"] = given
        elif not row.get("ref_price"):
            missing.append(row["symbol"])
    if missing:
        raise ConfigError(f"{args.dump}: no last price in the dump for {', '.join(missing)}; "
                          f"give one with --ref-price SYMBOL=PRICE")
    return rows


def _write_into(path: str, rows: list[dict]) -> None:
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read()) if os.path.getsize(path) else {}
    except FileNotFoundError:
        doc = {}
    except orjson.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    doc["instruments"] = rows
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rows = instruments(args)
        if args.into:
            _write_into(args.into, rows)
            print(f"{args.into}: {len(rows)} instruments from {args.dump}")
        else:
            print(orjson.dumps({"instruments": rows}, option=orjson.OPT_INDENT_2).decode())
    except ConfigError as e:
        print(f"instruments: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
