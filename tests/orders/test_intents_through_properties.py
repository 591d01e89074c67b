"""No intent is lost or handled twice across orders restarts that resume signals.jsonl from the
market store's `intents_through` (orders/stage.py `intents_handled_through`, `catch_up_intents`).

A model of the stage's intent path, searched by hypothesis: signals journals every intent first
(seq order = tick order), publishes them to the ring some ticks ahead of what orders has applied;
orders takes them (from the ring, or from the journal at a gap), applies ticks one at a time and
saves `intents_handled_through()` after each (or dies just before that save). At a kill the engine
is restored from its journal, `last_intent_seq` from the last save, the journal is caught up and
the ring redelivers every intent of a tick not yet applied. Whatever the kills, every intent is
journaled by orders exactly once (its bracket or its denial); with the save's value replaced by
one too high (a pending intent counted as handled), an intent is lost and this fails.
"""

import os

import msgspec
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.dtypes import TICK_DTYPE
from common.journal import JournalWriter
from common.messages import OrderDenied, SignalRaised
from tests.orders.stubs import Desk, Tape, intent
from tests.orders.test_stage_recovery import stage_over

EXAMPLES = int(os.environ.get("OTRADE_PROPERTY_EXAMPLES", "80"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=not os.environ.get("OTRADE_PROPERTY_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@st.composite
def days(draw):
    n_ticks = draw(st.integers(2, 25))
    ticks = sorted(draw(st.lists(st.integers(1, n_ticks), min_size=1, max_size=12)))
    intents = [msgspec.structs.replace(
        intent(t, qty=draw(st.sampled_from([1, 2, 10**9])), strategy=f"s{i}"),
        source="signals", seq=i + 1) for i, t in enumerate(ticks)]
    ahead = draw(st.lists(st.integers(0, 4), min_size=n_ticks, max_size=n_ticks))
    kills = draw(st.lists(st.tuples(st.integers(1, n_ticks), st.booleans()), max_size=4))
    return n_ticks, intents, ahead, dict(kills)


def handled(events) -> list[str]:
    return [m.intent_id for m in events if isinstance(m, (SignalRaised, OrderDenied))]


@PROPERTY
@given(days())
def test_every_intent_is_journaled_once_whatever_the_kills(tmp_path_factory, day):
    n_ticks, intents, ahead, kills = day
    run_dir = tmp_path_factory.mktemp("run")
    with JournalWriter(str(run_dir / "signals.jsonl"), "never") as signals:
        for msg in intents:
            signals.append(msg)
    tape = Tape()
    for _ in range(n_ticks):
        tape.add(0, 100.0)
    desk = Desk(run_dir)
    try:
        stage = new_stage(desk, run_dir, 0)
        saved, published = 0, 0
        for t in range(1, n_ticks + 1):
            # signals publishes every intent of a tick before orders may apply it, some ahead
            upto = t + ahead[t - 1]
            while published < len(intents) and intents[published].tick_seq <= upto:
                stage.on_message(intents[published])
                published += 1
            desk.engine.advance(tape.array(t)[:1])
            if t in kills and kills[t]:              # killed after the save
                saved = stage.intents_handled_through()
            elif t not in kills:
                saved = stage.intents_handled_through()
            if t in kills:                           # ... or just before it
                market = desk.engine.market_snapshot()
                desk.restart(list(desk.events), market=market)
                stage = new_stage(desk, run_dir, saved)
                stage.catch_up_intents()
                for msg in intents[:published]:      # the ring's intents of ticks not applied
                    if msg.tick_seq > t:
                        stage.on_message(msg)
        ids = handled(desk.events)
        assert sorted(ids) == sorted(m.intent_id for m in intents)   # each once, none lost
    finally:
        desk.close()


def new_stage(desk, run_dir, intents_through):
    stage = stage_over(desk, run_dir)
    stage.buf = np.zeros(0, TICK_DTYPE)
    stage.last_intent_seq = intents_through       # as OrdersStage.recover does
    return stage
