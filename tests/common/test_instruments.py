"""The instrument table in shared memory: lookups both ways, layout checks, bad rows refused."""

import numpy as np
import pytest

from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.errors import RingError
from common.instruments import InstrumentTable, find_token
from common.ringbuffer import ShmRing
from tests.support import unique_segment

ROWS = [
    # token, exchange_token, tick_size, lot_size, freeze_qty, segment_divisor, symbol, exchange,
    # broker_key
    (738561, 2885, 0.05, 1, 0, 100.0, b"RELIANCE", b"NSE", b"NSE_EQ|INE002A01018"),
    (341249, 1333, 0.05, 1, 0, 100.0, b"HDFCBANK", b"NSE", b"NSE_EQ|INE040A01034"),
    (128083204, 500325, 0.05, 1, 0, 100.0, b"RELIANCE", b"BSE", b"BSE_EQ|INE002A01018"),
    (12345602, 48225, 0.05, 25, 1800, 100.0, b"NIFTY25JANFUT", b"NFO", b"NSE_FO|48225"),
]


@pytest.fixture
def table():
    created = InstrumentTable.create(unique_segment("instruments"), ROWS)
    yield created
    created.close()
    created.unlink()


def test_attached_table_maps_tokens_and_symbols_to_rows_and_back(table):
    other = InstrumentTable.attach(table.name)
    assert len(other) == 4
    i = other.index_of_token(12345602)
    assert (other.symbol(i), other.exchange(i), other.token(i)) == (
        "NIFTY25JANFUT",
        "NFO",
        12345602,
    )
    assert (other.tick_size(i), other.lot_size(i), other.freeze_qty(i)) == (0.05, 25, 1800)
    assert other.broker_key(i) == "NSE_FO|48225"
    other.close()


def test_symbol_lookup_defaults_to_nse_and_tells_exchanges_apart(table):
    assert table.index_of_symbol("RELIANCE") == 0
    assert table.index_of_symbol("RELIANCE", exchange="BSE") == 2


def test_unknown_token_or_symbol_is_a_key_error_naming_it(table):
    with pytest.raises(KeyError, match="999"):
        table.index_of_token(999)
    with pytest.raises(KeyError, match="NSE:INFY"):
        table.index_of_symbol("INFY")


def test_numba_token_search_agrees_with_the_dict(table):
    for token, *_ in ROWS:
        assert find_token(table.tokens_sorted, table.token_rows, token) == table.index_of_token(
            token
        )
    assert find_token(table.tokens_sorted, table.token_rows, 1) == -1
    assert find_token(table.tokens_sorted, table.token_rows, 10**12) == -1


def test_attached_rows_are_read_only(table):
    other = InstrumentTable.attach(table.name)
    with pytest.raises(ValueError):
        other.rows["lot_size"][0] = 50
    other.close()


def test_a_duplicate_token_is_refused_naming_both_rows():
    rows = ROWS + [(738561, 1, 0.05, 1, 0, 100.0, b"OTHER", b"NSE", b"")]
    with pytest.raises(RingError, match="duplicate token 738561 in rows 0 and 4"):
        InstrumentTable.create(unique_segment("instruments"), rows)


def test_a_duplicate_symbol_on_one_exchange_is_refused():
    rows = ROWS + [(1, 1, 0.05, 1, 0, 100.0, b"HDFCBANK", b"NSE", b"")]
    with pytest.raises(RingError, match="duplicate symbol"):
        InstrumentTable.create(unique_segment("instruments"), rows)


def test_a_row_without_tick_or_lot_size_is_refused():
    rows = [(1, 1, 0.0, 1, 0, 100.0, b"X", b"NSE", b"")]
    with pytest.raises(RingError, match="tick_size and lot_size"):
        InstrumentTable.create(unique_segment("instruments"), rows)


def test_attaching_a_ring_as_an_instrument_table_is_refused():
    ring = ShmRing.create(unique_segment("ring"), 8, TICK_DTYPE)
    try:
        with pytest.raises(RingError, match="another kind of segment"):
            InstrumentTable.attach(ring.name)
    finally:
        ring.close()
        ring.unlink()


def test_attaching_a_table_of_another_layout_version_is_refused(table):
    np.ndarray((8,), np.int64, table._segment.buf, 0)[1] = 2
    with pytest.raises(RingError, match="layout version 2 != expected 1"):
        InstrumentTable.attach(table.name)


def test_rows_can_come_as_a_structured_array(table):
    rows = np.array(ROWS[:1], dtype=INSTRUMENT_DTYPE)
    other = InstrumentTable.create(unique_segment("instruments"), rows)
    assert other.index_of_token(738561) == 0
    other.close()
    other.unlink()
