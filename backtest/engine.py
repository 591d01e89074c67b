"""The in-process backtest: the pipeline's engines over a tick tape, in one process, in one order.

    bt = Backtest(config, run_dir, first_day=None, last_day=None)
    bt.run(progress)          # every tick of the tape, then the stop policy
    bt.close()

The four stages' deterministic cores, unchanged: the signal kernels (signals/engine.py, over
process-local buffers instead of shared-memory segments), the order engine with its risk gate,
brackets and fees (orders/engine.py), the paper broker with its own journal (orders/brokers/paper)
and the position book (positions/positionbook.py). No process, shared memory or socket; what the
stages do around their cores is done here the way they do it:

- signals (signals/stage.py `_send_intents`): each intent of a batch is stamped
  `SignalRaised(source="signals", seq=n)`, journaled to signals.jsonl, flushed, then acknowledged;
- the watermark (orders/stage.py): orders applies a tick only once every intent raised on it has
  arrived. Here, per batch: the signal engine applies the ticks, its intents are collected, then
  `OrderEngine.advance(those ticks, those intents)`, so a tick's intents always come before it;
- orders (orders/stage.py `emit`): every event is stamped with source "orders" and the next seq,
  journaled to orders.jsonl and, if a fill, to fills.jsonl, and handed to positions, which applies
  fills in journal order (positions/stage.py); the journals are written once per batch (`flush`);
- a fresh start (orders/stage.py `recover` on empty journals: `restore([])`, `resolve_in_doubt()`),
  and the end of a replay (orders/stage.py `finish`: the stop policy of orders/onstop.py).

The engine is a pure function of (ticks, intents), so the journals equal a pipeline run's on the
same file, line by line, except for the readings of each process's clock (see backtest/__init__.py).
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import msgspec
import numpy as np

from common import rundir
from common.journal import JournalWriter
from common.messages import OrderFilled, SignalRaised, TradingStateChanged
from orders.brokers import make_broker
from orders.engine import OrderEngine
from orders.onstop import apply_stop_policy
from positions.positionbook import PositionBook
from signals.engine import SignalEngine
from signals.layout import StateLayout, aligned_buffer, outbox_bytes

from backtest.tape import Tape, local_instruments

JOURNALS = (
    rundir.SIGNALS_JOURNAL,
    rundir.ORDERS_JOURNAL,
    rundir.FILLS_JOURNAL,
    rundir.PAPER_JOURNAL,
)


class Stamper:
    """A producer's `source` and per-source `seq`, as common/bus.py's Publisher stamps them."""

    def __init__(self, source: str):
        self.source, self.next_seq = source, 1

    def stamp(self, msg):
        stamped = msgspec.structs.replace(msg, source=self.source, seq=self.next_seq)
        self.next_seq += 1
        return stamped


class Backtest:
    """One backtest of `config` (feed.source "replay", broker "paper") into `run_dir` (fresh)."""

    def __init__(self, config, run_dir: str, rows: np.ndarray, *, first_day: int | None = None,
                 last_day: int | None = None, tape=None):
        # the shape orders/onstop.py reads
        self.ctx = SimpleNamespace(config=config, run_dir=run_dir)
        self.instruments = local_instruments(rows)
        # `tape`: any object with Tape's interface; a sweep's cell passes ticks already in memory
        # (backtest/sweep/data.py), so the file is read once per sweep, not once per cell.
        self.tape = (
            tape if tape is not None else Tape(config, self.instruments, first_day, last_day)
        )
        state = aligned_buffer(StateLayout.from_config(config).total_bytes)
        self.signals = SignalEngine(
            config, self.instruments.rows, state, aligned_buffer(outbox_bytes())
        )
        fsync = config.journal.fsync
        self.signals_journal = JournalWriter(os.path.join(run_dir, rundir.SIGNALS_JOURNAL), fsync)
        self.journal = JournalWriter(os.path.join(run_dir, rundir.ORDERS_JOURNAL), fsync)
        self.fills = JournalWriter(os.path.join(run_dir, rundir.FILLS_JOURNAL), fsync)
        self.signals_seq = 0
        self.stamper = Stamper("orders")
        self.broker = make_broker(config, {}, self.instruments, run_dir)
        self.engine = OrderEngine.from_config(config, self.instruments.rows, self.broker, self.emit,
                                              flush=self.flush)
        symbols = [self.instruments.symbol(i) for i in range(len(self.instruments))]
        self.book = PositionBook(symbols)
        self.last = np.zeros(len(symbols), dtype=np.float64)   # positions' mark-to-market prices
        self.last_orders_seq = 0
        self.state_reason = ""        # the reason of the last trading-state change
        self.ticks = 0
        self.last_reconcile: dict | None = None
        self.stop: dict = {}

    # -- the orders stage's sink: journaled, then handed to positions --------------------------
    def emit(self, msg) -> None:
        stamped = self.stamper.stamp(msg)
        self.journal.append(stamped)
        if isinstance(stamped, OrderFilled):
            self.fills.append(stamped)
            self.book.apply_fill(stamped)
        elif isinstance(stamped, TradingStateChanged):
            self.state_reason = stamped.reason
        self.last_orders_seq = stamped.seq

    def flush(self) -> None:
        """The engine's "make it durable before the broker call" (orders/sink.py). The pipeline's
        stage writes orders.jsonl there, so that a restart on its journal finds every order the
        broker may have; a backtest is never restarted on its journals (runner.fresh_run_dir
        refuses a used run directory), so the events are written at the batch's `commit` instead,
        in the same order: the files are the same, without a write per broker call."""

    def commit(self) -> None:
        self.journal.flush()
        self.fills.flush()

    # -- the run ---------------------------------------------------------------------------------
    def run(self, progress) -> None:
        """Every tick of the tape through signals then orders, then the stop policy."""
        self.engine.restore([], None)      # what the orders stage does on a fresh journal
        self.engine.resolve_in_doubt()
        self.commit()
        if self.ctx.config.positions.reconcile_on_start:
            self.reconcile()
        for n_read, ticks in self.tape.chunks():
            self.step(ticks)
            progress(n_read)
        self.stop = apply_stop_policy(self)
        self.commit()

    def step(self, ticks: np.ndarray) -> None:
        """One batch of ticks: signals apply them and raise intents, then orders takes both."""
        self._mark(ticks)
        rows = ticks
        while len(rows):
            consumed, _ = self.signals.process(rows)
            if consumed == 0:  # cannot happen: the outbox is drained after every call
                raise RuntimeError(
                    "the signal engine took no tick from a batch with an empty outbox"
                )
            intents = self.send_intents()
            self.engine.advance(rows[:consumed], intents)
            self.commit()
            rows = rows[consumed:]
        self.ticks += len(ticks)

    def send_intents(self) -> list:
        """The pending intents, stamped and journaled as signals/stage.py does, then
        acknowledged."""
        if self.signals.outbox.pending_count == 0:
            return []
        pending = self.signals.pending_intents()
        sent = []
        for row in pending:
            self.signals_seq += 1
            msg = SignalRaised(
                source="signals", seq=self.signals_seq, **self.signals.intent_fields(row)
            )
            self.signals_journal.append(msg)
            sent.append(msg)
        self.signals_journal.flush()
        self.signals.ack(len(pending))
        return sent

    def _mark(self, ticks: np.ndarray) -> None:
        """Each instrument's last price in the batch (later ticks win), as positions keeps them."""
        if len(ticks) == 0:
            return
        inst = ticks["instrument"][::-1]
        found, first = np.unique(inst, return_index=True)
        self.last[found] = ticks["price"][::-1][first]

    def reconcile(self) -> None:
        """positions' start check (positions/stage.py `reconcile`): its book against the paper
        broker's."""
        ours = {k: p.qty for k, p in self.book.positions.items() if p.qty}
        theirs = {p.instrument: p.qty for p in self.broker.positions() if p.qty}
        diff = {self.book.symbols[k]: {"ours": ours.get(k, 0), "broker": theirs.get(k, 0)}
                for k in set(ours) | set(theirs) if ours.get(k, 0) != theirs.get(k, 0)}
        self.last_reconcile = {
            "as_of_seq": self.last_orders_seq,
            "ok": not diff,
            "mismatches": diff,
        }

    def positions_doc(self) -> dict:
        """positions.json as the positions stage writes it at the end of a run."""
        self.book.mark(self.last)
        doc = self.book.as_dict()
        doc["last_orders_seq"] = self.last_orders_seq
        doc["last_reconcile"] = self.last_reconcile
        return doc

    def close(self) -> None:
        self.signals.release()
        self.tape.close()
        for closer in (
            self.broker.close,
            self.signals_journal.close,
            self.journal.close,
            self.fills.close,
        ):
            closer()
