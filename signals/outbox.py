"""The outbox: intents raised by strategy kernels, waiting in shared memory to be journaled and
sent.

A ring of INTENT_DTYPE rows with one writer and one reader, both in the signals process: the kernels
write rows and bump the write count; the stage reads the pending rows, journals and sends them, and
only then bumps the read count (`Outbox.ack`). Both counts only grow; row `n` lives at `n %
capacity`.

    [0, 64)     layout line (common/shm.py): magic, version, INTENT_DTYPE fingerprint, row size,
                capacity
    [64, 128)   write count (int64, its own cache line)
    [128, 192)  read count
    [192, ...)  capacity rows

Crash semantics. A kernel fills the row, fences, bumps the write count, and only then commits the
instrument's state (kernels/commit.py). Killed before the write-count store: the row is beyond the
count, invisible, and the tick is re-applied and writes it again. Killed between the write count and
the state commit: the tick is re-applied and the same intent is written a second time, with the same
deterministic id (strategy, instrument, tick seq), which orders deduplicates. Killed after
journaling but before `ack`: the stage sends the rows again, same ids. So an intent is never lost,
at worst repeated. When the ring is full the kernel stops before the tick that would overflow it
(the tick is not committed) and returns how many ticks it consumed.
"""

import numpy as np
from numba import njit

from common.errors import RingError
from common.fences import fence_release
from common.ids import intent_id
from common.shm import RELEASED, Layout, check_layout, write_layout

INTENT_DTYPE = np.dtype([
    ("tick_seq", np.int64),      # the tick that raised it (part of the intent id)
    ("ts_event_ns", np.int64),   # the tick's exchange time
    ("ts_recv_ns", np.int64),    # the tick's receive time (latency is measured from it)
    ("ref_price", np.float64),   # the tick's price, rupees
    ("limit_price", np.float64),  # LIMIT entries; 0 for MARKET
    ("stop_loss", np.float64),   # absolute stop price; 0 = no stop leg
    ("target", np.float64),      # absolute target price; 0 = no target leg
    ("qty", np.int64),           # shares
    ("strategy", np.uint16),     # index into config.strategies
    ("instrument", np.uint16),   # index into the instrument table
    ("reason", np.uint16),       # the strategy's reason code (Strategy.REASONS)
    ("side", np.int8),           # +1 buy, -1 sell
    ("order_type", np.uint8),    # ORDER_MARKET / ORDER_LIMIT
])

ORDER_MARKET = 1  # 0 stays invalid: a zero-filled row is never a valid intent
ORDER_LIMIT = 2
ORDER_TYPE_NAMES = {ORDER_MARKET: "MARKET", ORDER_LIMIT: "LIMIT"}
ORDER_TYPE_CODES = {name: code for code, name in ORDER_TYPE_NAMES.items()}

MAGIC = b"OTSIGOUT"
VERSION = 1
WRITE_WORD = 8    # int64 index of the write count in the header words
READ_WORD = 16
HEADER_WORDS = 24
ROWS_OFFSET = HEADER_WORDS * 8


@njit
def emit_intent(
    outbox, cursor, row, strategy, side, qty, order_type, limit_price, stop_loss, target, reason
):
    """Write one intent for tick `row` and publish it; False (nothing written) when the ring is
    full."""
    written = cursor[WRITE_WORD]
    if written - cursor[READ_WORD] >= outbox.shape[0]:
        return False
    out = outbox[written % outbox.shape[0]]
    out["tick_seq"] = row["seq"]
    out["ts_event_ns"] = row["ts_event_ns"]
    out["ts_recv_ns"] = row["ts_recv_ns"]
    out["ref_price"] = row["price"]
    out["limit_price"] = limit_price
    out["stop_loss"] = stop_loss
    out["target"] = target
    out["qty"] = qty
    out["strategy"] = strategy
    out["instrument"] = row["instrument"]
    out["reason"] = reason
    out["side"] = side
    out["order_type"] = order_type
    fence_release()  # the row before the count that makes it visible
    cursor[WRITE_WORD] = written + 1
    return True


class Outbox:
    """The outbox over `buf[offset:]` (a segment the supervisor created zero-filled).

    A zero layout line means a fresh segment: it is stamped. Anything else must match this build's
    layout exactly, or RingError.
    """

    def __init__(self, buf, capacity: int, offset: int = 0, name: str = "signals_outbox"):
        if capacity <= 0 or capacity & (capacity - 1):
            raise RingError(f"{name}: outbox capacity {capacity} is not a power of two")
        need = ROWS_OFFSET + capacity * INTENT_DTYPE.itemsize
        view = memoryview(buf).cast("B")[offset:]
        if len(view) < need:
            raise RingError(f"{name}: {len(view)} bytes, the outbox needs {need}")
        layout = Layout(MAGIC, VERSION, INTENT_DTYPE, capacity)
        self.cursor = np.ndarray((HEADER_WORDS,), np.int64, view, 0)
        if self.cursor[0] == 0:
            write_layout(view, layout)
        check_layout(view, layout, name)
        self.rows = np.ndarray((capacity,), INTENT_DTYPE, view, ROWS_OFFSET)
        self.capacity = capacity

    @property
    def write_count(self) -> int:
        return int(self.cursor[WRITE_WORD])

    @property
    def read_count(self) -> int:
        return int(self.cursor[READ_WORD])

    @property
    def pending_count(self) -> int:
        return self.write_count - self.read_count

    @property
    def free(self) -> int:
        return self.capacity - self.pending_count

    def pending(self) -> np.ndarray:
        """A copy of the unacknowledged rows, oldest first."""
        read, write = self.read_count, self.write_count
        lo = read % self.capacity
        if lo + (write - read) <= self.capacity:
            # Not wrapping round the end (nearly always): one slice copy. The index path costs
            # tens of µs on the spinning signals process, where an intent's path is cold.
            return self.rows[lo:lo + write - read].copy()
        return self.rows[np.arange(read, write) % self.capacity]

    def ack(self, n: int) -> None:
        """The oldest `n` pending rows are journaled and sent: free their slots (one int64
        store)."""
        if not 0 <= n <= self.pending_count:
            raise ValueError(f"cannot acknowledge {n} intents: {self.pending_count} are pending")
        self.cursor[READ_WORD] = self.read_count + n

    def release(self) -> None:
        """Drop the numpy views, so the segment can be closed."""
        self.cursor = self.rows = RELEASED


def intent_fields(row, strategy_names, symbols, reasons) -> dict:
    """The SignalRaised fields of one outbox row (the stage adds source, seq and ts_init_ns).

    strategy_names[i] and reasons[i] (code -> text) belong to strategy index i; symbols[k] to
    instrument k. The row is unpacked with one `item()` (plain Python ints and floats, in
    INTENT_DTYPE's field order): a numpy getter per field costs ~10 µs an intent, on the hop's
    critical path.
    """
    (tick_seq, ts_event_ns, ts_recv_ns, _ref_price, limit_price, stop_loss, target, qty,
     strategy, instrument, code, side, order_type) = row.item()
    name = strategy_names[strategy]
    return {
        "intent_id": intent_id(name, instrument, tick_seq),
        "strategy": name,
        "instrument": instrument,
        "symbol": symbols[instrument],
        "side": side,
        "qty": qty,
        "order_type": ORDER_TYPE_NAMES[order_type],
        "limit_price": limit_price,
        "stop_loss": stop_loss,
        "target": target,
        "tick_seq": tick_seq,
        "ts_event_ns": ts_event_ns,
        "ts_recv_ns": ts_recv_ns,
        "reason": reasons[strategy].get(code, f"reason {code}"),
    }
