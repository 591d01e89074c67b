"""orders/stage.py finish_recovery: a broker that does not answer while orders recovers is a hold,
not a crash.

The stage's recovery part runs on a real engine and paper broker (tests/orders/stubs.Desk) whose
trade book fails as a 500 does for the first `n` reads; the rest of the stage (ring, sockets) is
replaced by the few fakes recovery touches. The end-to-end version, against the local Kite venue
with the supervisor restarting orders, is in tests/integration/test_broker_failures.py.
"""

import socket
import types

import pytest

from common import stagetable as st
from common.clock import mono_ns
from common.errors import BrokerFatal, BrokerRetryable
from common.log import get_logger
from common.messages import OrderSubmitting, TradingStateChanged
from common.tradingstate import TradingState, read_state
from orders.recoveryhold import BACKOFF_FIRST_NS, RecoveryHold
from orders.stage import OrdersStage
from tests.orders.stubs import Tape, intent, of_type


HTTP_500 = BrokerRetryable("kite trades: Internal server error (GeneralException, HTTP 500)")


class TradesFail:
    """The paper broker, but the next `n` trade-book reads fail: with `error`, or as `dead.trades()`
    does (a live adapter whose broker refuses the TCP connection)."""

    def __init__(self, inner, n, error=None, dead=None):
        self.inner, self.left, self.reads = inner, n, 0
        self.error, self.dead = error, dead

    def trades(self):
        self.reads += 1
        if self.left > 0:
            self.left -= 1
            if self.dead is not None:
                return self.dead.trades()
            raise self.error
        return self.inner.trades()

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Runtime:
    def __init__(self):
        self.counts = {}

    def set_count(self, name, value):
        st.counter_index("orders", name)          # a counter the stage table really has
        self.counts[name] = value

    def count(self, name, n=1):
        self.counts[name] = self.counts.get(name, 0) + n


def stage_over(desk, run_dir, feed: str = "sim") -> OrdersStage:
    """An OrdersStage whose recovery runs on `desk`'s engine (nothing else of it is built)."""
    from config.feeds import FeedConfig

    stage = OrdersStage.__new__(OrdersStage)
    stage.ctx = types.SimpleNamespace(run_dir=str(run_dir),
                                      config=types.SimpleNamespace(feed=FeedConfig(source=feed)))
    stage.rt, stage.engine, stage.log = Runtime(), desk.engine, get_logger("orders")
    stage.ring = types.SimpleNamespace(readers=lambda: [])
    stage.signals_path = str(run_dir / "signals.jsonl")          # absent: no intents to catch up
    stage.last_intent_seq, stage.watermark, stage.recv_ns = 0, 1, {}
    stage.recovered_reason = ""
    stage.hold = RecoveryHold(stage.engine, stage._show_trading_state, stage.log)
    return stage


def restarted_desk(make_desk, n_failures, error=None, dead=None):
    """A desk that placed an entry, then restarted on a broker whose trade book fails `n_failures`
    times."""
    desk = make_desk()
    tape = Tape()
    tape.add(0, 100.0)
    desk.run(tape, [intent(1, qty=10)])
    journal = list(desk.events)
    desk.restart(journal)                       # restores and resolves once on a healthy broker
    desk.broker = desk.engine.gateway.broker = TradesFail(desk.paper, n_failures, error, dead)
    return desk


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dead_live_broker(name: str, rows):
    """A real Kite or Upstox adapter whose broker refuses every TCP connection."""
    url = f"http://127.0.0.1:{closed_port()}"
    if name == "kite":
        from config.schema import KiteBrokerConfig
        from orders.brokers.kite.broker import KiteBroker
        from orders.brokers.kite.config import KiteSettings
        from orders.brokers.kite.credentials import KiteCredentials
        settings = KiteSettings.from_config(KiteBrokerConfig(root=url, timeout_s=2.0))
        return KiteBroker(rows, settings, KiteCredentials("k", "t0k3n"))
    from config.schema import UpstoxBrokerConfig
    from orders.brokers.upstox.broker import UpstoxBroker
    from orders.brokers.upstox.config import UpstoxSettings
    from orders.brokers.upstox.credentials import UpstoxCredentials

    settings = UpstoxSettings.from_config(
        UpstoxBrokerConfig(host=url, order_host=url, timeout_s=2.0)
    )
    return UpstoxBroker(rows, settings, UpstoxCredentials("k", "t0k3n"))


@pytest.mark.parametrize("cause", ["http_500", "kite_refused", "upstox_refused"])
def test_finish_recovery_when_the_broker_does_not_answer_then_it_holds_halted_and_resumes_by_itself(
        make_desk, tmp_path, cause):
    dead = None if cause == "http_500" else dead_live_broker(cause.split("_")[0], make_desk().rows)
    desk = restarted_desk(make_desk, n_failures=3, error=HTTP_500, dead=dead)
    stage = stage_over(desk, tmp_path)
    placed = len(of_type(desk.events, OrderSubmitting))
    before = mono_ns()
    for attempt in range(3):
        assert stage.finish_recovery() is False                # held, not raised
        shown = read_state(str(tmp_path))
        assert shown["state"] == "HALTED" and "recovery: broker unreachable" in shown["reason"]
        assert ("HTTP 500" if dead is None else "network error") in shown["reason"]
        assert stage.rt.counts["trading_state"] == TradingState.HALTED
        assert stage.hold.retry_ns >= before + (BACKOFF_FIRST_NS << attempt)
    assert desk.engine.trading_state == "ACTIVE"               # the engine itself was never halted
    assert not [m for m in of_type(desk.events, TradingStateChanged) if m.state == "HALTED"]
    assert stage.finish_recovery() is True                     # the broker answers again
    assert read_state(str(tmp_path))["state"] == "ACTIVE" and stage.hold.error == ""
    assert stage.rt.counts["trading_state"] == TradingState.ACTIVE
    assert len(of_type(desk.events, OrderSubmitting)) == placed   # nothing placed again
    assert desk.broker.reads == 4
    if dead is not None:
        dead.close()


def test_finish_recovery_when_the_session_is_refused_then_it_still_halts_for_the_operator(
    make_desk, tmp_path
):
    desk = restarted_desk(
        make_desk, n_failures=1, error=BrokerFatal("TokenException: log in again")
    )
    stage = stage_over(desk, tmp_path)
    assert stage.finish_recovery() is False
    assert desk.engine.trading_state == "HALTED" and desk.engine.broker_down
    assert stage.finish_recovery() is True
    # resuming after a dead token is the operator's call
    assert desk.engine.trading_state == "HALTED"


def test_a_restart_reading_the_days_intents_again_counts_only_those_not_handled_before(
    make_desk, tmp_path
):
    """A restart re-reads signals.jsonl from its start. Intents whose outcome the journal holds (a
    bracket, a denial) were counted as received before: they are redelivered, not received again
    (the status showed 'intents' doubled after every orders restart on a busy day) and not queued
    for the engine to drop at their tick; a new one is received and taken."""
    import msgspec
    import numpy as np

    from common.dtypes import TICK_DTYPE
    from common.journal import JournalWriter

    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    handled = [intent(1, qty=1), intent(1, qty=1, strategy="b"), intent(1, qty=10**9, strategy="c")]
    desk.run(tape, handled)
    desk.restart(list(desk.events))
    stage = stage_over(desk, tmp_path)
    stage.buf = np.zeros(0, TICK_DTYPE)
    fresh = intent(2, qty=1, strategy="d")
    with JournalWriter(stage.signals_path) as signals:
        for seq, msg in enumerate(handled + [fresh], start=1):
            signals.append(msgspec.structs.replace(msg, source="signals", seq=seq))
    stage.catch_up_intents()
    assert stage.rt.counts.get("intents") == 1
    assert desk.engine.stats["redelivered_intents"] == 3
    assert stage.last_intent_seq == 4 and list(stage.recv_ns) == [fresh.intent_id]
    assert len(desk.engine.denied) == 1 and len(desk.engine.desk.brackets) == 2   # as before
    tape.add(0, 100.0)
    desk.engine.advance(tape.array(start_seq=2))
    assert fresh.intent_id in desk.engine.desk.brackets


def test_a_restart_re_reads_only_the_intents_after_those_its_market_store_says_are_handled(
    make_desk, tmp_path
):
    """The market store saved with each tick batch names the signals-journal seq through which
    every intent is journaled (all taken but those waiting for their tick). A restart reads
    signals.jsonl on from there: the handled intents are not decoded again, the waiting one is
    taken again and acted on at its tick."""
    import msgspec
    import numpy as np

    from common.dtypes import TICK_DTYPE
    from common.journal import JournalWriter
    from orders.marketstore import MarketStore, segment_bytes

    desk, tape = make_desk(), Tape()
    tape.add(0, 100.0)
    handled = [intent(1, qty=1), intent(1, qty=1, strategy="b"), intent(1, qty=10**9, strategy="c")]
    waiting = intent(3, qty=1, strategy="d")
    signals_dir = tmp_path / "run"
    signals_dir.mkdir()
    with JournalWriter(str(signals_dir / "signals.jsonl")) as signals:
        for seq, msg in enumerate(handled + [waiting], start=1):
            signals.append(msgspec.structs.replace(msg, source="signals", seq=seq))

    before = stage_over(desk, signals_dir)
    before.buf = np.zeros(0, TICK_DTYPE)
    before.catch_up_intents()                      # all four taken
    desk.run(tape)                                 # tick 1: three handled, one waits for tick 3
    assert before.intents_handled_through() == 3
    n = len(desk.rows)
    store = MarketStore(bytearray(segment_bytes(n)), n)
    store.save(desk.engine.market_snapshot(), tape.seq + 1, before.intents_handled_through())

    desk.restart(list(desk.events))
    after = stage_over(desk, signals_dir)
    after.buf = np.zeros(0, TICK_DTYPE)
    after.last_intent_seq = store.intents_through()          # as OrdersStage.recover does
    after.catch_up_intents()
    assert after.rt.counts.get("intents") == 1 and list(after.recv_ns) == [waiting.intent_id]
    assert desk.engine.stats["redelivered_intents"] == 0     # nothing handled was read again
    tape.prices(0, [100.0, 100.0])
    desk.run(tape, start_seq=2)
    assert waiting.intent_id in desk.engine.desk.brackets
    assert len(desk.engine.desk.brackets) == 3 and len(desk.engine.denied) == 1


@pytest.mark.parametrize("feed, sent", [("sim", True), ("kite", False)])
def test_an_entry_the_dead_process_never_sent_is_decided_on_a_live_markets_clock(
        make_desk, tmp_path, feed, sent):
    """The process died between journaling an entry ("about to send") and sending it, just before
    the cut-off. A restart on a live feed settles it on the market's clock (the wall clock, long
    past that day here): never received, and entries closed since, so it is not sent (NOT_SENT).
    On a sim or replay the market is its ticks: the restart sends it, as the dead process would —
    at its first settle, after that settle's exits (entries wait for them: orders/recovery.py)."""
    from common.messages import OrderRejected
    from orders.recovery import NOT_SENT
    from tests.orders.risk_support import limits_of
    from tests.orders.stubs import FlakyBroker, ist_ns

    crash = {1: ("before", RuntimeError("killed before the send"))}
    desk = make_desk(limits=limits_of(leg_prices="signal", entry_cutoff="15:00"),
                     wrap=lambda paper: FlakyBroker(paper, crash))
    tape = Tape(start_ns=ist_ns(14, 59, 59))
    tape.add(0, 100.0)
    with pytest.raises(RuntimeError):
        desk.run(tape, [intent(1, qty=5, stop_loss=98.0, target=103.0)])
    assert isinstance(desk.events[-1], OrderSubmitting) and desk.paper.orders() == []
    desk.restart(list(desk.events), market=desk.engine.market_snapshot(), wrap=None,
                 resolve=False)
    stage = stage_over(desk, tmp_path, feed)
    assert stage.finish_recovery() is True
    assert desk.paper.orders() == []
    desk.run(tape, start_seq=tape.add(0, 100.0))
    assert bool(desk.paper.orders()) is sent
    rejected = of_type(desk.events, OrderRejected)
    assert (not rejected) if sent else rejected[-1].code == NOT_SENT
