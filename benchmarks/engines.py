"""The signals and orders engines wired in-process the way their stages wire them, for
micro-benchmarks.

    with OrderDesk(tmp) as desk:
        handoff_ns, fill_ns, close_ns = desk.round_trip(k)  # intent → order at the paper broker...

    desk = SignalDesk(tmp, n_ticks=20_000)
    step_ns = desk.step(8)   # the next 8 ticks: every strategy, intents journaled, published

`OrderDesk` is orders/stage.py's wiring without the process: OrderEngine over the 50-instrument
benchmark universe, the paper broker on its own journal, and an `emit` that stamps each event,
appends it to orders.jsonl, flushes it to the kernel and publishes it on a bound PUB socket (no
subscriber: the send costs what it costs when positions keeps up). `round_trip` is one bracket's
life: the intent and its tick (timed: that is the handoff), the next tick fills the entry and the
exits go out, a third tick hits the target and the stop is cancelled. The book is flat again after
every round trip, so the thousandth sample sees the same state as the first.

`SignalDesk` is signals/stage.py's per-batch work: the default strategy over sim ticks of the same
universe, then every pending intent built, journaled, flushed and published, then acknowledged.
"""

from __future__ import annotations

import os
import time

import msgspec
import numpy as np

from benchmarks.pipeline import LIVE_RATE_HZ, SESSION_DATE, universe
from common import topics
from common.bus import Publisher, make_context
from common.dtypes import TICK_DTYPE
from common.instruments import instrument_rows   # the table as the pipeline builds it
from common.journal import JournalWriter
from common.messages import SignalRaised

# market time between the ticks of a round trip: inside every rate limit
TICK_STEP_NS = 1_000_000_000
INTENT_TOPIC = b"intent"          # signals PUSHes intents; here a PUB stands in (it never blocks)
EXIT_TICKS = 10                   # stop and target this many ticks either side of the entry


def benchmark_config():
    """config.schema.Config of the benchmark universe with the default strategy (as pinned by
    benchmarks.harness.BENCH_BASELINE, so the figures stay comparable)."""
    from benchmarks.harness import BENCH_BASELINE
    from config.loader import load_config

    return load_config(
        None, overrides={**BENCH_BASELINE, "instruments": universe()}, dotenv_path=None
    ).config


class OrderDesk:
    """OrderEngine + paper broker + journal + PUB socket in `directory` (a context manager)."""

    def __init__(self, directory: str):
        from orders.brokers.paper.broker import PaperBroker
        from orders.engine import OrderEngine
        from orders.fees import FeeSchedule
        from orders.limits import RiskLimits

        config = benchmark_config()
        self.rows = instrument_rows(config)
        self.prices = np.array([i.ref_price for i in config.instruments])
        # Session hours off: the market clock of thousands of round trips runs past 15:30.
        limits = msgspec.structs.replace(
            config.risk, enforce_session=False, rate_per_day=10_000_000
        )
        self.broker = PaperBroker(os.path.join(directory, "paper_broker.jsonl"), self.rows)
        self.journal = JournalWriter(os.path.join(directory, "orders.jsonl"), "never")
        self.zmq = make_context()
        self.pub = Publisher(self.zmq, f"ipc://{directory}/orders.pub", "orders")
        self.engine = OrderEngine(
            self.rows,
            RiskLimits.from_config(limits),
            FeeSchedule.from_config(config, self.rows),
            self.broker,
            self.emit,
        )
        self.tick = np.zeros(1, dtype=TICK_DTYPE)
        self.seq = 0
        # 09:20 IST
        self.ts_ns = int(np.datetime64(f"{SESSION_DATE}T03:50:00", "ns").astype(np.int64))
        self.round_trips = 0

    def emit(self, msg) -> None:
        """As OrdersStage.emit: stamped, journaled and flushed to the kernel, then published."""
        stamped = self.pub.stamp(msg)
        self.journal.append(stamped)
        self.journal.flush()
        self.pub.send(topics.EVT_ORDER, stamped)

    def advance(self, instrument: int, price: float, intents=()) -> int:
        """One tick (and the intents raised on it) through the engine; returns the ns it took."""
        self.seq += 1
        self.ts_ns += TICK_STEP_NS
        t = self.tick[0]
        t["seq"], t["ts_event_ns"], t["ts_recv_ns"] = self.seq, self.ts_ns, time.perf_counter_ns()
        t["instrument"], t["price"], t["qty"] = instrument, price, 1
        start = time.perf_counter_ns()
        if intents:
            self.engine.advance(self.tick[:0], intents)   # the intent arrives, queued for its tick
        self.engine.advance(self.tick)
        return time.perf_counter_ns() - start

    def intent(self, instrument: int) -> SignalRaised:
        """A MARKET buy on `instrument` at the next tick, with a stop and a target EXIT_TICKS
        away."""
        price, tick = float(self.prices[instrument]), float(self.rows["tick_size"][instrument])
        seq = self.seq + 1
        return SignalRaised(
            ts_event_ns=self.ts_ns,
            intent_id=f"mac:{instrument}:{seq}",
            strategy="mac",
            instrument=instrument,
            symbol=self.rows["symbol"][instrument].decode(),
            side=1,
            qty=1,
            order_type="MARKET",
            stop_loss=round(price - EXIT_TICKS * tick, 2),
            target=round(price + EXIT_TICKS * tick, 2),
            tick_seq=seq,
            ts_recv_ns=0,
            ts_init_ns=0,
        )

    def open_bracket(self, instrument: int) -> int:
        """Intent and its tick (returns that handoff's ns), then the tick that fills the entry."""
        handoff = self.advance(
            instrument, float(self.prices[instrument]), [self.intent(instrument)]
        )
        self.advance(instrument, float(self.prices[instrument]))   # entry fills, exits placed
        return handoff

    def round_trip(self, instrument: int) -> tuple[int, int, int]:
        """One bracket, entry to target: the ns of its three ticks (the first is the intent → broker
        handoff; the second fills the entry and places the exits; the third fills the target)."""
        price, tick = float(self.prices[instrument]), float(self.rows["tick_size"][instrument])
        handoff = self.advance(instrument, price, [self.intent(instrument)])
        fill = self.advance(instrument, price)
        close = self.advance(instrument, round(price + EXIT_TICKS * tick, 2))
        self.round_trips += 1
        return handoff, fill, close

    def check_flat(self) -> None:
        """Every round trip closed its bracket: nothing working, no position (else the samples
        drift)."""
        working, positions = self.engine.book.n_working, self.engine.positions()
        open_qty = {k: q for k, (q, _, _) in positions.items() if q}
        if working or open_qty:
            raise RuntimeError(
                f"desk not flat after {self.round_trips} round trips: {working} working "
                f"orders, positions {open_qty}"
            )

    def close(self) -> None:
        self.pub.close()
        self.zmq.term()
        self.journal.close()
        self.broker.close()

    def __enter__(self) -> "OrderDesk":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SignalDesk:
    """SignalEngine with the default strategy over `n_ticks` sim ticks, journaling into
    `directory`."""

    def __init__(self, directory: str, n_ticks: int):
        from signals.engine import SignalEngine
        from signals.layout import OUTBOX_SEGMENT, STATE_SEGMENT, aligned_buffer, segment_sizes

        config = benchmark_config()
        rows = instrument_rows(config)
        sizes = segment_sizes(config)
        self.state, self.outbox = (
            aligned_buffer(sizes[STATE_SEGMENT]),
            aligned_buffer(sizes[OUTBOX_SEGMENT]),
        )
        self.engine = SignalEngine(config, rows, self.state, self.outbox)
        self.engine.warm()
        self.ticks = sim_ticks(config, n_ticks)
        self.cursor = 0
        self.journal = JournalWriter(os.path.join(directory, "signals.jsonl"), "never")
        self.zmq = make_context()
        self.pub = Publisher(self.zmq, f"ipc://{directory}/signals.pub", "signals")
        self.intents = 0

    def step(self, n: int) -> int:
        """The next `n` ticks through every strategy, their intents sent; returns the ns it took."""
        if self.cursor + n > len(self.ticks):
            raise IndexError(f"SignalDesk made for {len(self.ticks):,} ticks; asked for more")
        rows = self.ticks[self.cursor:self.cursor + n]
        self.cursor += n
        start = time.perf_counter_ns()
        while len(rows):
            consumed, _ = self.engine.process(rows)
            self._send()
            rows = rows[consumed:]
        return time.perf_counter_ns() - start

    def _send(self) -> None:
        if self.engine.outbox.pending_count == 0:
            return
        pending = self.engine.pending_intents()
        sent = [self.pub.stamp(SignalRaised(**self.engine.intent_fields(row))) for row in pending]
        for msg in sent:
            self.journal.append(msg)
        self.journal.flush()
        for msg in sent:
            self.pub.send(INTENT_TOPIC, msg)
        self.engine.ack(len(pending))
        self.intents += len(sent)

    def close(self) -> None:
        self.engine.release()
        self.pub.close()
        self.zmq.term()
        self.journal.close()


def sim_ticks(config, n_ticks: int) -> np.ndarray:
    """`n_ticks` TICK_DTYPE rows of the sim feed over config's instruments (as the replay file
    holds)."""
    from feed.generate import generate

    sim = msgspec.structs.replace(
        config.feed.sim,
        profile="stress",
        seed=2024,
        session_date=SESSION_DATE,
        start_time="09:15",
        tick_rate_hz=float(LIVE_RATE_HZ),
    )
    ts, symbols, price, qty, volume, bid, ask = generate(config.instruments, sim, n_ticks)
    index = {inst.symbol: k for k, inst in enumerate(config.instruments)}
    rows = np.zeros(len(ts), dtype=TICK_DTYPE)
    rows["seq"] = np.arange(1, len(ts) + 1)
    rows["ts_event_ns"] = ts
    rows["ts_recv_ns"] = ts
    rows["instrument"] = [index[s] for s in symbols]
    rows["price"], rows["qty"], rows["volume"], rows["bid"], rows["ask"] = (
        price,
        qty,
        volume,
        bid,
        ask,
    )
    return rows
