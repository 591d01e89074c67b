"""The instrument table: one INSTRUMENT_DTYPE row per tradable instrument, in shared memory.

A tick's `instrument` field is a row index into this table. The supervisor creates the table once,
before any stage starts, and nobody writes it afterwards, so readers need no synchronisation beyond
the layout line (common/shm.py), whose magic is written last. Lookups by token or symbol are Python
dicts built on attach; numba kernels that must map a broker token to an index (binary feed parsers)
use `tokens_sorted` / `token_rows` with `find_token`.
"""

import numpy as np
from numba import njit

from common.dtypes import INSTRUMENT_DTYPE
from common.errors import RingError
from common.shm import LAYOUT_BYTES, Layout, attach_segment, check_layout, create_segment
from common.shm import RELEASED, read_capacity, write_layout

MAGIC = b"OTRINSTR"
LAYOUT_VERSION = 1
MAX_ROWS = 1 << 16  # a tick's `instrument` field is a uint16


@njit(cache=True)
def find_token(tokens_sorted, token_rows, token):
    """Row index of `token`, or -1: binary search over the sorted tokens."""
    lo, hi = 0, tokens_sorted.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if tokens_sorted[mid] < token:
            lo = mid + 1
        else:
            hi = mid
    if lo < tokens_sorted.shape[0] and tokens_sorted[lo] == token:
        return token_rows[lo]
    return -1


def instrument_rows(config) -> np.ndarray:
    """The table's rows from `config.instruments`, in their order (a tick's `instrument` is the
    index).

    Defined here, below the supervisor, the local venue and the backtest, so all three build the
    same table from the same configuration without importing each other.
    """
    rows = np.zeros(len(config.instruments), dtype=INSTRUMENT_DTYPE)
    for i, inst in enumerate(config.instruments):
        rows[i] = (
            inst.token,
            inst.exchange_token,
            inst.tick_size,
            inst.lot_size,
            inst.freeze_qty,
            _price_divisor(inst),
            inst.symbol.encode(),
            inst.exchange.encode(),
            inst.broker_key.encode(),
        )
    return rows


def _price_divisor(inst) -> float:
    """Kite's binary feed sends paise; currency derivatives in 1e-7 rupees (brokers.md,
    KiteTicker)."""
    return 10_000_000.0 if inst.exchange == "CDS" else 100.0


class InstrumentTable:
    """Read-only view of the table (the creator wrote it before anyone attached)."""

    def __init__(self, segment, creator: bool):
        self._segment = segment
        self.name = segment.name
        self.creator = creator
        count = read_capacity(segment.buf)
        self.rows = np.ndarray((count,), INSTRUMENT_DTYPE, segment.buf, LAYOUT_BYTES)
        if not creator:
            self.rows.flags.writeable = False
        self.token_rows = np.argsort(self.rows["token"], kind="stable").astype(np.int64)
        self.tokens_sorted = self.rows["token"][self.token_rows]
        self._by_token = {int(t): i for i, t in enumerate(self.rows["token"])}
        self._by_symbol = {
            (s, e): i for i, (s, e) in enumerate(zip(self.rows["symbol"], self.rows["exchange"]))
        }

    @classmethod
    def create(cls, name: str, rows) -> "InstrumentTable":
        """Create the segment holding `rows` (an INSTRUMENT_DTYPE array or a list of its tuples)."""
        rows = np.asarray(rows, dtype=INSTRUMENT_DTYPE)
        _check_rows(name, rows)
        segment = create_segment(name, LAYOUT_BYTES + max(1, len(rows)) * INSTRUMENT_DTYPE.itemsize)
        try:
            target = np.ndarray((len(rows),), INSTRUMENT_DTYPE, segment.buf, LAYOUT_BYTES)
            target[:] = rows
            del target
            write_layout(segment.buf, Layout(MAGIC, LAYOUT_VERSION, INSTRUMENT_DTYPE, len(rows)))
            return cls(segment, creator=True)
        except BaseException:
            segment.unlink()
            segment.close()
            raise

    @classmethod
    def attach(cls, name: str) -> "InstrumentTable":
        segment = attach_segment(name)
        try:
            count = read_capacity(segment.buf)
            check_layout(segment.buf, Layout(MAGIC, LAYOUT_VERSION, INSTRUMENT_DTYPE, count), name)
            if segment.size < LAYOUT_BYTES + count * INSTRUMENT_DTYPE.itemsize:
                raise RingError(f"segment {name} is too small for {count} instruments")
            return cls(segment, creator=False)
        except BaseException:
            segment.close()
            raise

    def __len__(self) -> int:
        return len(self.rows)

    def index_of_token(self, token: int) -> int:
        """Row index of a broker instrument token; KeyError if the table does not have it."""
        try:
            return self._by_token[int(token)]
        except KeyError:
            raise KeyError(f"instrument token {token} is not in table {self.name}") from None

    def index_of_symbol(self, symbol: str, exchange: str = "NSE") -> int:
        """Row index of a trading symbol on an exchange; KeyError if the table does not have it."""
        try:
            return self._by_symbol[(symbol.encode(), exchange.encode())]
        except KeyError:
            raise KeyError(f"instrument {exchange}:{symbol} is not in table {self.name}") from None

    def token(self, index: int) -> int:
        return int(self.rows["token"][index])

    def symbol(self, index: int) -> str:
        return self.rows["symbol"][index].decode()

    def exchange(self, index: int) -> str:
        return self.rows["exchange"][index].decode()

    def broker_key(self, index: int) -> str:
        return self.rows["broker_key"][index].decode()

    def tick_size(self, index: int) -> float:
        return float(self.rows["tick_size"][index])

    def lot_size(self, index: int) -> int:
        return int(self.rows["lot_size"][index])

    def freeze_qty(self, index: int) -> int:
        """Maximum quantity per order at the exchange; 0 means no limit."""
        return int(self.rows["freeze_qty"][index])

    def close(self) -> None:
        self.rows = RELEASED
        self._segment.close()

    def unlink(self) -> None:
        if not self.creator:
            raise RingError(f"instrument table {self.name}: only its creator unlinks it")
        self._segment.unlink()


def _check_rows(name: str, rows: np.ndarray) -> None:
    if rows.ndim != 1 or len(rows) > MAX_ROWS:
        raise RingError(
            f"instrument table {name}: {rows.shape} rows; at most {MAX_ROWS} in one dimension"
        )
    first_at: dict = {}
    for i, row in enumerate(rows):
        for key, what in (
            (int(row["token"]), "token"),
            ((row["symbol"], row["exchange"]), "symbol"),
        ):
            if (what, key) in first_at:
                raise RingError(f"instrument table {name}: duplicate {what} {key!r} in rows "
                                f"{first_at[(what, key)]} and {i}")
            first_at[(what, key)] = i
        if row["tick_size"] <= 0 or row["lot_size"] <= 0:
            raise RingError(
                f"instrument table {name}: row {i} ({row['symbol']!r}) needs tick_size and "
                "lot_size > 0"
            )
