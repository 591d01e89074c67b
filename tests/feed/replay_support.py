"""The instruments and the reading loop the replay tests share (feed, report, review).

    @pytest.fixture
    def table():
        with instrument_table("SBIN", "INFY") as t:
            yield t

    ticks = read_all(opened(path, table))     # every tick the file delivers, in order
"""

import contextlib

import numpy as np

from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.instruments import InstrumentTable
from feed.sources.base import EndOfFeed
from feed.sources.replay import ReplaySource
from tests.support import unique_segment

# NSE's instrument tokens, as the replay files and Kite name them.
TOKENS = {"SBIN": 779521, "INFY": 408065}


@contextlib.contextmanager
def instrument_table(*symbols: str):
    """A shared-memory instrument table of NSE `symbols` (tick 0.05, lot 1); removed after."""
    rows = np.zeros(len(symbols), dtype=INSTRUMENT_DTYPE)
    for i, sym in enumerate(symbols):
        rows[i]["symbol"], rows[i]["token"], rows[i]["exchange"] = sym.encode(), TOKENS[sym], b"NSE"
        rows[i]["tick_size"], rows[i]["lot_size"] = 0.05, 1
    t = InstrumentTable.create(unique_segment("instruments"), rows)
    try:
        yield t
    finally:
        t.close()
        t.unlink()


def opened(path, table, **kwargs) -> ReplaySource:
    src = ReplaySource(str(path), **kwargs)
    src.open(table)
    return src


def read_all(src, sanity=None, chunk: int = 7) -> np.ndarray:
    """Everything the source delivers, `chunk` ticks a read (a small one crosses read boundaries);
    through `sanity` first when given (as the feed stage does)."""
    out, parts = np.zeros(chunk, dtype=TICK_DTYPE), []
    while True:
        try:
            n = src.read(out, timeout_s=1.0)
        except EndOfFeed:
            return np.concatenate(parts) if parts else np.zeros(0, TICK_DTYPE)
        if sanity is not None:
            n = sanity.screen(out[:n])
        parts.append(out[:n].copy())
