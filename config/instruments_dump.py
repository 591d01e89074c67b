"""Brokers' daily instrument dumps → `instruments` entries (config.schema.InstrumentConfig).

    load_kite_csv(path, symbols)     Kite's GET /instruments CSV (instrument_token, exchange_token,
                                     tradingsymbol, name, last_price, expiry, strike, tick_size,
                                     lot_size, instrument_type, segment, exchange)
    load_upstox_bod(path, symbols)   Upstox's BOD JSON (a list of objects; .json or .json.gz) with
                                     instrument_key, exchange_token, trading_symbol/tradingsymbol,
                                     tick_size, lot_size, exchange, instrument_type, last_price...

`symbols` names what to load: "RELIANCE" (on `exchange`, default NSE) or "NFO:NIFTY26MARFUT". The
result is one dict per symbol, in the order asked, with the keys of config.schema.InstrumentConfig:
symbol, exchange, token, exchange_token, tick_size (rupees), lot_size, broker_key, and ref_price
when the dump's last_price is > 0 (Kite's NSE dump carries 0.0 for equities: then the caller must
supply ref_price). Unknown symbols raise one ConfigError naming all of them, with near spellings.

Units and ids, and what is assumed:
- Kite tick_size is rupees; `token` is Kite's instrument_token (what the Kite ticker sends) and
  broker_key is "".
- Upstox BOD tick_size is taken to be in PAISE (5.0 = ₹0.05) unless `tick_unit="rupees"`; the
  reference notes (reference/brokers.md §2.3) do not state the unit, so this is UNVERIFIED. A value
  below 1 with tick_unit="paise" looks like rupees already and raises rather than guess.
- Upstox has no Kite instrument_token: `token` is the exchange_token (unique per exchange segment on
  a day; reused after expiry, so reload the dump daily) and broker_key the instrument_key.
Imports only the standard library and `common`.
"""

import csv
import difflib
import gzip
import io
import json

from common.errors import ConfigError

KITE_COLUMNS = ("instrument_token", "exchange_token", "tradingsymbol", "tick_size", "lot_size",
                "exchange")
PAISE_PER_RUPEE = 100.0


def parse_symbols(symbols, exchange: str = "NSE") -> list[tuple[str, str]]:
    """["RELIANCE", "NFO:X"] → [("NSE", "RELIANCE"), ("NFO", "X")]."""
    out = []
    for name in symbols:
        exch, sep, sym = str(name).strip().rpartition(":")
        out.append(((exch if sep else exchange).upper(), sym.strip()))
    return out


def load_kite_csv(path: str, symbols, exchange: str = "NSE") -> list[dict]:
    """Instrument dicts for `symbols` from Kite's instruments CSV at `path`."""
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in KITE_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ConfigError(
            f"not a Kite instruments CSV: no column(s) {', '.join(missing)}", source=path
        )
    wanted = parse_symbols(symbols, exchange)
    keys = set(wanted)
    found: dict[tuple[str, str], dict] = {}
    for line, row in enumerate(reader, 2):
        key = (row["exchange"].strip().upper(), row["tradingsymbol"].strip())
        if key in keys and key not in found:
            found[key] = _entry(path, line, key, token=row["instrument_token"],
                                exchange_token=row["exchange_token"], tick=row["tick_size"],
                                lot=row["lot_size"], last=row.get("last_price"), broker_key="")
    return _in_order(path, wanted, found, _names_of(csv.DictReader(io.StringIO(text))))


def load_upstox_bod(
    path: str, symbols, exchange: str = "NSE", tick_unit: str = "paise"
) -> list[dict]:
    """Instrument dicts for `symbols` from Upstox's BOD instruments JSON at `path`."""
    if tick_unit not in ("paise", "rupees"):
        raise ConfigError(f"tick_unit must be 'paise' or 'rupees', not {tick_unit!r}", source=path)
    try:
        doc = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise ConfigError(f"not JSON (line {e.lineno})", source=path) from None
    if not isinstance(doc, list):
        raise ConfigError("an Upstox BOD file is a JSON list of instruments", source=path)
    wanted = parse_symbols(symbols, exchange)
    keys, found = set(wanted), {}
    for n, row in enumerate(doc):
        key = _upstox_key(row)
        if key not in keys or key in found:
            continue
        tick = float(row.get("tick_size") or 0)
        if tick_unit == "paise":
            if 0 < tick < 1:
                raise ConfigError(
                    f"[{n}] {key[0]}:{key[1]}: tick_size {tick} is below one paisa; "
                    f"the file looks like rupees (pass tick_unit='rupees')",
                    source=path,
                )
            tick /= PAISE_PER_RUPEE
        found[key] = _entry(path, f"[{n}]", key, token=row.get("exchange_token"),
                            exchange_token=row.get("exchange_token"), tick=tick,
                            lot=row.get("lot_size") or 1, last=row.get("last_price"),
                            broker_key=str(row.get("instrument_key") or ""))
        if not found[key]["broker_key"]:
            raise ConfigError(f"[{n}] {key[0]}:{key[1]} has no instrument_key", source=path)
    return _in_order(path, wanted, found, [_upstox_key(r) for r in doc])


def _upstox_key(row) -> tuple[str, str]:
    if not isinstance(row, dict):
        return ("", "")
    symbol = row.get("trading_symbol") or row.get("tradingsymbol") or ""
    return str(row.get("exchange") or "").upper(), str(symbol).strip()


def _entry(path, where, key, *, token, exchange_token, tick, lot, last, broker_key) -> dict:
    try:
        entry = {"symbol": key[1], "exchange": key[0], "token": int(token),
                 "exchange_token": int(exchange_token or 0), "tick_size": round(float(tick), 6),
                 "lot_size": int(float(lot)), "broker_key": broker_key}
        last_price = float(last or 0)
    except (TypeError, ValueError):
        raise ConfigError(f"line {where}: {key[0]}:{key[1]} has a non-numeric token, tick_size, "
                          f"lot_size or last_price", source=path) from None
    if entry["token"] <= 0 or entry["tick_size"] <= 0 or entry["lot_size"] <= 0:
        raise ConfigError(
            f"line {where}: {key[0]}:{key[1]} needs token, tick_size and lot_size > 0", source=path
        )
    if last_price > 0:
        entry["ref_price"] = last_price
    return entry


def _in_order(path, wanted, found, all_keys) -> list[dict]:
    unknown = [k for k in wanted if k not in found]
    if unknown:
        names = sorted({f"{e}:{s}" for e, s in all_keys if e})
        hints = []
        for exch, sym in unknown:
            close = difflib.get_close_matches(f"{exch}:{sym}", names, n=3)
            hints.append(
                f"{exch}:{sym}" + (f" (did you mean {', '.join(close)}?)" if close else "")
            )
        raise ConfigError(f"not in the instrument dump: {'; '.join(hints)}", source=path)
    return [found[k] for k in wanted]


def _names_of(reader) -> list[tuple[str, str]]:
    return [
        (r.get("exchange", "").strip().upper(), r.get("tradingsymbol", "").strip()) for r in reader
    ]


def _read_text(path: str) -> str:
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"cannot read the instrument dump: {type(e).__name__}", source=path
        ) from None
