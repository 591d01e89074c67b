"""A hand-written stand-in for the signals stage loop, run as a child process by test_crash_kill.py.

    python -m tests.signals.fake_stage <run_id> <journal path>

It attaches the run's three segments (signals_state, signals_outbox and a one-word `cursor` that
plays the tick ring's committed reader cursor), then loops like signals/stage.py will: take the next
batch from the cursor, process it, journal every pending intent (one JSON line each, written before
the ack), ack, commit the cursor. Batch sizes vary with the cursor, so a kill can land anywhere.
"""

import sys

import msgspec
import numpy as np

from common.shm import attach_segment, segment_name
from config.schema import STRATEGY_PARAMS, StrategyConfig
from signals.engine import SignalEngine
from signals.strategies.vwap_revert import VWAPRevertParams
from tests.signals.synthetic import instrument_table, interleaved_ticks, make_config

TICKS = 30_000
CURSOR_SEGMENT = "cursor"


def scenario():
    """The config and the tick stream of the chaos run (the same in parent and child)."""
    STRATEGY_PARAMS.setdefault("vwap_revert", VWAPRevertParams)
    config = make_config(
        StrategyConfig(name="mac", kind="ma_crossover", params={"fast": 3, "slow": 9, "ma": "sma"}),
        StrategyConfig(
            name="ema", kind="ma_crossover", params={"fast": 5, "slow": 21, "ma": "ema"}
        ),
        StrategyConfig(
            name="vwr", kind="vwap_revert", params={"band_pct": 0.1, "min_session_ticks": 10}
        ),
    )
    return config, interleaved_ticks(TICKS, 4, seed=99)


def batch_size(cursor: int) -> int:
    return 1 + (cursor * 7919) % 23


def run(run_id: str, journal_path: str) -> None:
    config, rows = scenario()
    state = attach_segment(segment_name(run_id, "signals_state"))
    outbox = attach_segment(segment_name(run_id, "signals_outbox"))
    cursor_segment = attach_segment(segment_name(run_id, CURSOR_SEGMENT))
    cursor = np.ndarray((1,), np.int64, cursor_segment.buf, 0)
    engine = SignalEngine(config, instrument_table(config), state.buf, outbox.buf)
    engine.warm()
    with open(journal_path, "ab") as journal:
        if journal.tell():
            journal.write(b"\n")  # end a line the previous process may have been killed in
        while cursor[0] < len(rows):
            start = int(cursor[0])
            consumed, _ = engine.process(rows[start:start + batch_size(start)])
            pending = engine.pending_intents()
            for row in pending:
                journal.write(msgspec.json.encode(engine.intent_fields(row)) + b"\n")
            journal.flush()
            engine.ack(len(pending))
            cursor[0] = start + consumed


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
