"""The feed stage in process, on a real ring and instrument table: what reaches the ring from a
replay file with insane rows, what the counters say, and what a restarted feed publishes next."""

from types import SimpleNamespace

import msgspec
import numpy as np
import pytest

from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.instruments import InstrumentTable
from common.ringbuffer import ShmRing
from config.loader import load_config
from config.replaycheck import ReplayFileError
from feed.replayfile import write_ticks
from feed.stage import FeedStage
from tests.support import unique_segment

T0 = 1_767_584_700_000_000_000   # 2026-01-05 09:15 IST
MS = 1_000_000
N = 20_000
SYMBOLS = ("SBIN", "INFY")
REFS = (820.0, 1500.0)


class FakeRuntime:
    """The StageRuntime surface the feed uses: counters by name, beats, a stop flag."""

    def __init__(self):
        self.counters, self.should_stop = {}, False

    def count(self, name, n=1):
        self.counters[name] = self.counters.get(name, 0) + n

    def set_count(self, name, value):
        self.counters[name] = value

    def beat(self):
        pass


@pytest.fixture
def shared():
    rows = np.zeros(len(SYMBOLS), INSTRUMENT_DTYPE)
    for i, sym in enumerate(SYMBOLS):
        rows[i]["symbol"], rows[i]["token"], rows[i]["exchange"] = sym.encode(), 1000 + i, b"NSE"
        rows[i]["tick_size"], rows[i]["lot_size"] = 0.05, 1
    table = InstrumentTable.create(unique_segment("instruments"), rows)
    ring = ShmRing.create(unique_segment("ticks"), 1 << 15, TICK_DTYPE)
    yield SimpleNamespace(table=table, ring=ring)
    ring.close()
    ring.unlink()
    table.close()
    table.unlink()


def context(shared, path, **sanity) -> SimpleNamespace:
    instruments = [{"symbol": s, "token": 1000 + i, "tick_size": 0.05, "ref_price": r}
                   for i, (s, r) in enumerate(zip(SYMBOLS, REFS))]
    feed = {"source": "replay", "replay": {"path": str(path)}, "sanity": sanity}
    config = load_config(
        None,
        environ={},
        dotenv_path=None,
        overrides={"instruments": instruments, "feed": feed, "strategies": []},
    ).config
    return SimpleNamespace(
        ring=shared.ring.handle(),
        instruments_segment=shared.table.name,
        config=config,
        secrets=None,
        endpoints={},
    )


def run_feed(ctx, max_steps=None) -> FakeRuntime:
    """Start a feed stage and step it until its source ends (or `max_steps`); close it as a kill
    would."""
    rt = FakeRuntime()
    stage = FeedStage(ctx, rt)
    try:
        stage.start()
        steps = 0
        while stage.step() is not False:
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
    finally:
        stage.close()
    return rt


def published(ring) -> np.ndarray:
    # capacity > every test's tick count: nothing lapped
    seqs = np.arange(1, ring.published + 1)
    return ring.slots[seqs & (ring.capacity - 1)].copy()


def session(n=N):
    """n well-behaved ticks alternating SBIN / INFY, a tick every ms, prices walking by one tick."""
    walk = np.cumsum(np.where(np.arange(n) % 3 == 0, 0.05, -0.05))
    inst = np.arange(n) % 2
    price = np.round((np.array(REFS)[inst] + walk) / 0.05) * 0.05
    return T0 + np.arange(n, dtype=np.int64) * MS, inst, price


def write(path, ts, inst, price):
    write_ticks(str(path), ts, np.array(SYMBOLS, dtype=object)[inst], price)


def test_feed_when_one_row_has_price_1e300_and_one_ts_9e18_then_both_dropped_by_reason_and_the_rest_published(  # noqa: E501 - the name is the test's sentence
    tmp_path, shared
):
    ts, inst, price = session()
    price[5_000] = 1e300                       # would fill a stop at 1e300
    ts[7_000] = 9_000_000_000_000_000_000      # would move the market clock to the year 2255
    path = tmp_path / "session.parquet"
    write(path, ts, inst, price)
    rt = run_feed(context(shared, path))
    got = published(shared.ring)
    keep = np.ones(N, bool)
    keep[[5_000, 7_000]] = False
    assert len(got) == N - 2
    assert np.array_equal(got["ts_event_ns"], ts[keep])           # every other row, in order
    assert np.array_equal(got["price"], price[keep])
    assert got["ts_event_ns"].max() == ts[-1]                     # the clock never saw 9e18
    assert rt.counters["dropped_price_jump"] == 1
    assert rt.counters["dropped_ts_ahead"] == 1
    assert rt.counters["dropped_out_of_order"] == 0
    assert rt.counters["ticks"] == N - 2


def test_feed_when_restarted_mid_file_then_it_publishes_exactly_what_one_uninterrupted_run_would(
    tmp_path, shared
):
    ts, inst, price = session(6_000)
    price[[100, 2_500, 2_501, 4_000]] = [1e300, 1e6, 3.0, 1e300]
    ts[[300, 3_000]] = [9_000_000_000_000_000_000, T0 - 5]
    path = tmp_path / "session.csv"
    write(path, ts, inst, price)
    ctx = context(shared, path)
    run_feed(ctx)
    whole = published(shared.ring)

    other = SimpleNamespace(
        table=shared.table, ring=ShmRing.create(unique_segment("ticks"), 1 << 15, TICK_DTYPE)
    )
    try:
        ctx2 = SimpleNamespace(**{**vars(ctx), "ring": other.ring.handle()})
        for _ in range(4):                       # a life publishes a batch or two, then dies
            run_feed(ctx2, max_steps=1)
        assert 0 < other.ring.published < 6_000 - 5
        rt = run_feed(ctx2)                      # the last life runs to the end
        resumed = published(other.ring)
    finally:
        other.ring.close()
        other.ring.unlink()
    for field in ("ts_event_ns", "instrument", "price"):
        assert np.array_equal(resumed[field], whole[field]), field
    assert rt.counters["dropped_price_jump"] == 4 and rt.counters["dropped_ts_ahead"] == 1
    assert rt.counters["dropped_out_of_order"] == 1


def test_feed_when_no_row_gets_through_the_filter_then_it_fails_with_a_replay_file_error(
    tmp_path, shared
):
    ts, inst, price = session(50)
    path = tmp_path / "session.csv"
    # every first tick 200 % off its ref_price, never re-anchored
    write(path, ts, inst, price * 3)
    with pytest.raises(ReplayFileError, match="no tick got through"):
        run_feed(context(shared, path, reanchor_ticks=0))


def test_feed_when_a_replay_file_is_unusable_then_start_raises_a_named_replay_file_error(
    tmp_path, shared
):
    path = tmp_path / "session.csv"
    path.write_text(
        "ts_event_ns,symbol,ltp\n" + "".join(f"{T0 + i},SBIN,820.5\n" for i in range(10))
    )
    with pytest.raises(ReplayFileError, match="no 'price' column"):
        run_feed(context(shared, path))
    assert shared.ring.published == 0


def test_feed_config_defaults_for_sanity_are_the_documented_ones():
    sanity = msgspec.to_builtins(load_config(None, environ={}, dotenv_path=None).config.feed.sanity)
    assert sanity == {
        "max_jump_pct": 20.0,
        "ref_band_pct": 50.0,
        "reanchor_ticks": 5,
        "max_ahead_s": 60.0,
        "max_gap_s": 604800.0,
    }


def test_feed_when_restarted_then_its_catch_up_reads_nothing_past_the_restart_point(
    tmp_path, shared
):
    """A paced replay keeps its pace after a feed restart: the catch-up re-reads exactly what the
    earlier life published, so no tick after it is read (and published) unpaced."""
    ts, inst, price = session(6_000)
    path = tmp_path / "session.csv"
    write(path, ts, inst, price)
    ctx = context(shared, path)
    run_feed(ctx, max_steps=1)                     # a life publishes a batch, then dies
    before = shared.ring.published
    assert 0 < before < 6_000
    stage = FeedStage(ctx, FakeRuntime())
    try:
        stage.start()
        assert stage.source._pos == before         # read up to the restart point, not one row more
        assert shared.ring.published == before
    finally:
        stage.close()
