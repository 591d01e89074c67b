"""InstrumentConfig dumps (Kite CSV, Upstox BOD JSON) become config instrument entries, or clear
errors.

Fixtures: tests/orders/fixtures/kite_instruments.csv holds rows copied from the shared Kite sample
plus two hand-written rows (INFY with a last_price, a NIFTY future); tests/orders/fixtures/upstox/
bod_nse.json is hand-written in the BOD format (no real Upstox dump is available here).
"""

import gzip
import os
import shutil

import msgspec
import pytest

from common.errors import ConfigError
from config.instruments_dump import load_kite_csv, load_upstox_bod
from config.schema import InstrumentConfig

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "orders", "fixtures")
KITE = os.path.join(FIXTURES, "kite_instruments.csv")
UPSTOX = os.path.join(FIXTURES, "upstox", "bod_nse.json")
SHARED_KITE = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "kite", "instruments_nse.csv"
)


def test_kite_rows_for_requested_symbols_in_the_order_asked():
    infy, fut, adani = load_kite_csv(KITE, ["INFY", "NFO:NIFTY26MARFUT", "ADANIPORTS"])
    assert infy == {"symbol": "INFY", "exchange": "NSE", "token": 408065, "exchange_token": 1594,
                    "tick_size": 0.05, "lot_size": 1, "broker_key": "", "ref_price": 1502.35}
    assert fut["exchange"] == "NFO" and fut["lot_size"] == 65 and fut["tick_size"] == 0.1
    assert "ref_price" not in adani          # last_price 0.0 in the dump: the caller supplies it


def test_kite_entries_are_valid_config_instruments_once_priced():
    for entry in load_kite_csv(KITE, ["INFY", "ADANIPORTS"]):
        msgspec.convert({"ref_price": 100.0} | entry, InstrumentConfig)


def test_unknown_symbols_are_all_named_with_near_spellings():
    with pytest.raises(ConfigError) as raised:
        load_kite_csv(KITE, ["INFYY", "ADANIPORT", "NSE:NOPE"])
    text = str(raised.value)
    assert "NSE:INFYY" in text and "NSE:INFY?" in text and "NSE:NOPE" in text
    assert "NSE:ADANIPORTS" in text and KITE in text


def test_a_symbol_on_another_exchange_is_not_found_on_nse():
    with pytest.raises(ConfigError):
        load_kite_csv(KITE, ["NIFTY26MARFUT"])


def test_a_csv_without_kite_columns_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("symbol,price\nA,1\n")
    with pytest.raises(ConfigError, match="instrument_token"):
        load_kite_csv(str(path), ["A"])


def test_upstox_rows_carry_the_instrument_key_and_tick_size_in_rupees():
    reliance, sbin, fut = load_upstox_bod(UPSTOX, ["RELIANCE", "SBIN", "NSE:NIFTY FUT 26 MAR 26"])
    assert reliance == {
        "symbol": "RELIANCE",
        "exchange": "NSE",
        "token": 2885,
        "exchange_token": 2885,
        "tick_size": 0.1,
        "lot_size": 1,
        "broker_key": "NSE_EQ|INE002A01018",
        "ref_price": 1402.4,
    }
    assert sbin["tick_size"] == 0.05 and "ref_price" not in sbin
    assert fut["broker_key"] == "NSE_FO|48225" and fut["lot_size"] == 65


def test_upstox_older_tradingsymbol_field_and_other_exchanges_are_read():
    (bse,) = load_upstox_bod(UPSTOX, ["BSE:RELIANCE"])
    assert bse["broker_key"] == "BSE_EQ|INE002A01018" and bse["tick_size"] == 0.05


def test_upstox_gzipped_dump_reads_the_same(tmp_path):
    packed = tmp_path / "complete.json.gz"
    with open(UPSTOX, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert load_upstox_bod(str(packed), ["SBIN"]) == load_upstox_bod(UPSTOX, ["SBIN"])


def test_upstox_tick_sizes_already_in_rupees_are_refused_unless_said_so(tmp_path):
    path = tmp_path / "rupees.json"
    path.write_text('[{"exchange": "NSE", "trading_symbol": "X", "instrument_key": "NSE_EQ|X", '
                    '"exchange_token": "7", "tick_size": 0.05, "lot_size": 1}]')
    with pytest.raises(ConfigError, match="tick_unit='rupees'"):
        load_upstox_bod(str(path), ["X"])
    assert load_upstox_bod(str(path), ["X"], tick_unit="rupees")[0]["tick_size"] == 0.05


def test_upstox_unknown_symbol_and_bad_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="NSE:SBI"):
        load_upstox_bod(UPSTOX, ["SBI"])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        load_upstox_bod(str(bad), ["X"])
    with pytest.raises(ConfigError, match="cannot read"):
        load_upstox_bod(str(tmp_path / "missing.json"), ["X"])


@pytest.mark.skipif(not os.path.exists(SHARED_KITE), reason="the shared Kite sample is not here")
def test_the_real_kite_nse_sample_loads():
    entries = load_kite_csv(SHARED_KITE, ["ADANIPORTS", "CDSL-BE"])
    assert [e["token"] for e in entries] == [3861249, 5421569]
    assert all(e["tick_size"] > 0 and e["lot_size"] == 1 for e in entries)
