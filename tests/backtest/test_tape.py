"""The tick tape (backtest/tape.py): the ticks a pipeline's ring would carry, numbered as the ring
numbers them."""

import numpy as np
import pytest

from common.errors import ConfigError
from common.instruments import instrument_rows
from config.loader import load_config
from backtest.tape import Tape, ist_day_number, local_instruments
from tests.backtest.cases import tiny_config

DAY1 = 1_627_443_900 * 10**9          # 2021-07-28 09:15 IST
NIGHT = 24 * 3600 * 10**9


def _tape(tmp_path, rows, first=None, last=None) -> tuple[Tape, np.ndarray]:
    config = load_config(tiny_config(tmp_path, rows)).config
    tape = Tape(
        config,
        local_instruments(instrument_rows(config)),
        ist_day_number(first, "--from") if first else None,
        ist_day_number(last, "--to") if last else None,
    )
    chunks = [ticks for _, ticks in tape.chunks()]
    return tape, np.concatenate(chunks) if chunks else np.zeros(0)


def test_tape_when_ticks_are_insane_then_dropped_and_counted_as_the_feed_counts_them(tmp_path):
    rows = [(DAY1, "AAA", 100.0), (DAY1 + 1, "BBB", 50.0), (DAY1 + 2, "AAA", 100.5),
            (DAY1 + 3, "AAA", 1000.0),        # 895 % from the last good price: price_jump
            # earlier than the clock: out_of_order
            (DAY1 + 1_000, "BBB", 50.5), (DAY1 + 500, "AAA", 101.0),
            (DAY1 + 2_000, "CCC", 7.0),       # not in the table: unknown
            (DAY1 + 3_000, "AAA", 101.5)]
    tape, ticks = _tape(tmp_path, rows)
    assert ticks["price"].tolist() == [100.0, 50.0, 100.5, 50.5, 101.5]
    assert ticks["seq"].tolist() == [1, 2, 3, 4, 5]           # the ring writer's numbering: no gaps
    assert ticks["instrument"].tolist() == [0, 1, 0, 1, 0]
    drops = tape.drops()
    assert (
        drops["dropped_price_jump"],
        drops["dropped_out_of_order"],
        drops["dropped_unknown"],
    ) == (1, 1, 1)
    tape.close()


def test_tape_when_a_window_is_given_then_only_its_days_are_kept_and_seqs_start_at_one(tmp_path):
    rows = [(DAY1 + d * NIGHT + k, "AAA", 100.0 + d) for d in range(3) for k in range(4)]
    tape, ticks = _tape(tmp_path, rows, "2021-07-29", "2021-07-29")
    assert ticks["price"].tolist() == [101.0] * 4
    assert ticks["seq"].tolist() == [1, 2, 3, 4]
    assert tape.outside_window == 8
    tape.close()


def test_tape_when_a_window_is_open_ended_then_it_keeps_every_day_from_or_to_its_bound(tmp_path):
    rows = [(DAY1 + d * NIGHT, "AAA", 100.0 + d) for d in range(3)]
    _, later = _tape(tmp_path, rows, first="2021-07-29")
    _, earlier = _tape(tmp_path, rows, last="2021-07-29")
    assert later["price"].tolist() == [101.0, 102.0]
    assert earlier["price"].tolist() == [100.0, 101.0]


def test_ist_day_number_when_not_a_date_then_config_error_names_the_flag():
    with pytest.raises(ConfigError, match="--from"):
        ist_day_number("28-07-2021", "--from")
    assert ist_day_number("1970-01-02", "--to") == 1


def test_local_instruments_when_built_then_lookups_are_the_shared_tables(tmp_path):
    config = load_config(tiny_config(tmp_path, [(DAY1, "AAA", 100.0)])).config
    table = local_instruments(instrument_rows(config))
    assert len(table) == 2 and table.symbol(1) == "BBB" and table.index_of_token(2) == 1
    assert table.tick_size(0) == 0.05
