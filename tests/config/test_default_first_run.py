"""The embedded default (config/default.json) on its own sim feed trades a handful of times a minute
across the universe and is rarely told no (issue 16: "a first run that makes sense").

The whole engine in one process, as `python -m backtest` runs it (backtest/engine.py: signal
kernels, order engine, risk, brackets, paper broker), fed by the default `sim` source unpaced
instead of a replay file (Backtest's `tape`): market minutes, not wall-clock ones.
"""

import json
import os

import msgspec
import numpy as np

from backtest.engine import Backtest
from backtest.tape import local_instruments
from common.dtypes import TICK_DTYPE
from common.instruments import instrument_rows
from config.loader import load_config
from feed.sources.sim import SimSource

NS_PER_MIN = 60 * 1_000_000_000


class SimTape:
    """backtest/tape.py's Tape over the config's sim source: the first `minutes` of market time."""

    def __init__(self, config, instruments, minutes: float):
        sim = msgspec.structs.replace(config.feed.sim, speed=0.0)     # unpaced: market time only
        self.source = SimSource(sim, [i.ref_price for i in config.instruments])
        self.source.open(instruments)
        self.minutes = minutes
        self.next_seq = 1

    def chunks(self):
        buf = np.zeros(4096, TICK_DTYPE)
        end = self.source.t0 + int(self.minutes * NS_PER_MIN)
        while True:
            n = self.source.read(buf, timeout_s=0.0)
            ticks = buf[:n][buf[:n]["ts_event_ns"] <= end].copy()
            ticks["seq"] = np.arange(self.next_seq, self.next_seq + len(ticks))
            self.next_seq += len(ticks)
            if len(ticks):
                yield len(ticks), ticks
            if len(ticks) < n:
                return

    def close(self):
        self.source.close()


def _run_default(tmp_path, minutes):
    """The default config over its first `minutes` of sim market time: (intent times in ns after
    09:15, denial reason names)."""
    config = load_config(None, dotenv_path=None).config
    rows = instrument_rows(config)
    tape = SimTape(config, local_instruments(rows), minutes)
    bt = Backtest(config, str(tmp_path), rows, tape=tape)
    try:
        bt.run(lambda n: None)
        t0 = bt.tape.source.t0
    finally:
        bt.close()
    with open(os.path.join(tmp_path, "orders.jsonl")) as f:
        events = [json.loads(line) for line in f]
    with open(os.path.join(tmp_path, "signals.jsonl")) as f:
        raised = [json.loads(line)["ts_event_ns"] - t0 for line in f]
    denied = [e["reason"].split(":")[0] for e in events if e["type"] == "OrderDenied"]
    return raised, denied


def test_default_config_when_run_for_a_market_minute_then_it_trades_and_denials_are_a_small_minority(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    raised, denied = _run_default(tmp_path, 1.0)
    assert raised, "the default trades in its first minute (its EMAs warm up in ~40 s at the open)"
    assert len(denied) <= 0.1 * len(raised), denied


def test_default_config_when_run_past_the_open_then_it_crosses_a_handful_of_times_a_minute(
        tmp_path):
    raised, denied = _run_default(tmp_path, 30.0)
    per_minute = np.bincount(np.asarray(raised) // NS_PER_MIN, minlength=30)
    settled = per_minute[2:]            # after the open's warm-up burst (every name's first cross)
    assert 0.5 <= settled.mean() <= 6.0, per_minute.tolist()
    assert settled.max() <= 12, per_minute.tolist()
    assert len(denied) <= 0.1 * len(raised), denied
    assert "MAX_OPEN_ORDERS" not in denied
