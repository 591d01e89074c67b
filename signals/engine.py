"""The signal engine: every configured strategy over each batch of ticks, one numba call per
strategy.

    engine = SignalEngine(config, instrument_rows, state_segment.buf, outbox_segment.buf)
    engine.warm()                                  # before reporting READY
    while rows is not empty:
        consumed, n_new = engine.process(rows)     # applies ticks, writes intents to the outbox
        pending = engine.pending_intents()         # every unacknowledged intent, in a fixed order
        for row in pending:
            journal + send SignalRaised(**engine.intent_fields(row), source=..., ...)
        engine.ack(len(pending))                   # only after they are journaled and sent
        rows = rows[consumed:]

Each tick is committed in shared memory as it is applied (kernels/commit.py) and its intent is in
the outbox before that, so the ring cursor may be committed as soon as `process` returns; a
restarted process re-reads from the cursor and replayed ticks are skipped. After a restart, call
`process` on the first batch before draining: intents then come out in the same order as in an
undisturbed run.

Ordering. `pending_intents()` orders rows by (tick seq, strategy index), which does not depend on
how the ticks were cut into batches: with several strategies, orders sees the same sequence of
intents whatever the timing was. To keep that true, `process` takes at most free_outbox_rows //
strategies ticks per call (each strategy raises at most one intent per tick), so no strategy stops
early and every strategy has applied the same ticks when it returns.
"""

import numpy as np

from common.dtypes import TICK_DTYPE
from common.errors import ConfigError
from signals.layout import OUTBOX_CAPACITY, StateLayout
from signals.outbox import Outbox, intent_fields
from signals.state import SignalState, StrategyState
from signals.strategy import N_STATS, STAT_NAMES


_ONE_ROW = np.zeros(1, dtype=np.int64)      # the order of a single pending intent
_ONE_ROW.flags.writeable = False

class _Run:
    """What one strategy's kernel needs besides the batch, built once."""

    def __init__(self, views: StrategyState, symbol_index: dict[str, int], instruments: int):
        section = views.section
        self.section = section
        self.views = views
        self.kernel = section.cls.kernel
        self.params = section.cls.pack_params(section.params)
        self.inst_slot = np.full(instruments, -1, dtype=np.int64)
        for slot, symbol in enumerate(section.symbols):
            if symbol not in symbol_index:
                raise ConfigError(f"{symbol!r} is not in the instrument table",
                                  path=f"strategies[{section.index}].instruments")
            self.inst_slot[symbol_index[symbol]] = slot
        self.stats = np.zeros(N_STATS, dtype=np.int64)

    def __call__(self, rows: np.ndarray, tick_size: np.ndarray, outbox: Outbox) -> int:
        v = self.views
        return int(
            self.kernel(
                rows,
                self.inst_slot,
                tick_size,
                self.params,
                v.copies,
                v.commit,
                v.history,
                outbox.rows,
                outbox.cursor,
                self.section.index,
                self.stats,
            )
        )


class SignalEngine:
    """All strategies of `config` over shared state (`state_buf`) and a shared outbox
    (`outbox_buf`).

    instrument_rows is the INSTRUMENT_DTYPE table ticks index into. Raises RingError if a segment
    was laid out for another build or config, ConfigError if a strategy's symbol is not in the
    table.
    """

    def __init__(
        self,
        config,
        instrument_rows: np.ndarray,
        state_buf,
        outbox_buf,
        *,
        state_offset: int = 0,
        outbox_offset: int = 0,
        outbox_capacity: int = OUTBOX_CAPACITY,
    ):
        self.layout = StateLayout.from_config(config)
        self.state = SignalState(state_buf, self.layout, state_offset)
        self.outbox = Outbox(outbox_buf, outbox_capacity, outbox_offset)
        self.symbols = [bytes(s).decode() for s in instrument_rows["symbol"]]
        self.tick_size = np.array(instrument_rows["tick_size"], dtype=np.float64)
        index = {symbol: k for k, symbol in enumerate(self.symbols)}
        self.runs = [_Run(views, index, len(self.symbols)) for views in self.state.strategies]
        if len(self.runs) > outbox_capacity:  # `process` could then never take a single tick
            raise ConfigError(
                f"{len(self.runs)} strategies, but the intent outbox holds {outbox_capacity} "
                f"intents: one tick may raise one intent per strategy",
                path="strategies",
            )
        self.strategy_names = [run.section.name for run in self.runs]
        self._reasons = [run.section.cls.REASONS for run in self.runs]
        # ring positions of the rows pending_intents() returned
        self._order = np.zeros(0, dtype=np.int64)

    def warm(self) -> None:
        """Load (or compile) every kernel for exactly the array types `process` passes; changes
        nothing."""
        empty = np.zeros(0, dtype=TICK_DTYPE)
        for run in self.runs:
            run(empty, self.tick_size, self.outbox)

    def process(self, rows: np.ndarray) -> tuple[int, int]:
        """Apply a batch (TICK_DTYPE, seq order); returns (rows consumed, intents raised).

        consumed < len(rows) when the outbox has too little room: drain it and call again with
        rows[consumed:]. Ticks that were applied before (seq <= the slot's last seq) are skipped.
        """
        if rows.dtype != TICK_DTYPE:  # another dtype would compile another kernel, on the hot path
            raise ValueError(f"rows must be TICK_DTYPE records, not {rows.dtype}")
        if len(rows) == 0 or not self.runs:
            return len(rows), 0
        if not rows.flags.c_contiguous:
            rows = np.ascontiguousarray(rows)
        limit = min(len(rows), self.outbox.free // len(self.runs))
        if limit == 0:
            return 0, 0
        batch = rows[:limit]
        before = self.outbox.write_count
        consumed = limit
        for run in self.runs:
            consumed = min(consumed, run(batch, self.tick_size, self.outbox))
        return consumed, self.outbox.write_count - before

    def pending_intents(self) -> np.ndarray:
        """A copy of every unacknowledged intent row, ordered by (tick seq, strategy index)."""
        rows = self.outbox.pending()
        if len(rows) == 1:         # the usual live case: nothing to order (and no lexsort to pay)
            self._order = _ONE_ROW
            return rows
        self._order = np.lexsort((rows["strategy"], rows["tick_seq"]))
        return rows[self._order]

    def ack(self, n: int) -> None:
        """The first `n` rows of the last pending_intents() are journaled and sent: free them.

        Acknowledging part of a reordered set is refused (ValueError) when those rows are not the
        oldest n in the outbox, as freeing them would free others that were not sent.
        """
        order = self._order
        if 0 < n < len(order) and int(order[:n].max()) != n - 1:
            raise ValueError(
                f"the first {n} pending intents are not the oldest {n}: acknowledge all "
                f"{len(order)} of them, or a prefix that does not cut across a reorder"
            )
        self.outbox.ack(n)
        self._order = order[n:] - n if n < len(order) else np.zeros(0, dtype=np.int64)

    def intent_fields(self, row) -> dict:
        """The SignalRaised fields of an outbox row (the stage adds source, seq, ts_init_ns)."""
        return intent_fields(row, self.strategy_names, self.symbols, self._reasons)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters since this process started, per strategy name: applied, replayed,
        outbox_full."""
        return {run.section.name: {name: int(run.stats[i]) for i, name in enumerate(STAT_NAMES)}
                for run in self.runs}

    def release(self) -> None:
        """Drop every numpy view of the segments, so their owners can close them."""
        self.runs = []
        self.state.release()
        self.outbox.release()
