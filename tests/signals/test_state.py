"""The indicator state survives a kill at any point and never applies a tick twice.

A SIGKILL leaves the shared segments exactly as the last executed store left them. These tests build
those memory images directly (copying the buffers mid-run, rolling back a commit word, scribbling on
what is not committed) and check that a restarted engine over them ends where an undisturbed run
ends. tests/signals/test_crash_kill.py does the same with real processes and real kills.
"""

import numpy as np
import pytest

from common.errors import RingError
from config.schema import StrategyConfig
from signals.engine import SignalEngine
from signals.outbox import WRITE_WORD
from tests.signals.synthetic import (Buffers, instrument_table, interleaved_ticks, make_config,
                                     make_engine, run_batches)

SLOW = 12


def _config(ma="sma"):
    return make_config(
        StrategyConfig(name="mac", kind="ma_crossover", params={"fast": 4, "slow": SLOW, "ma": ma}),
        StrategyConfig(
            name="vwr", kind="vwap_revert", params={"band_pct": 0.2, "min_session_ticks": 20}
        ),
    )


def _rows(n=2400):
    return interleaved_ticks(n, 4, seed=11)


def _undisturbed(config, rows, batch=50):
    engine, buffers = make_engine(config)
    return run_batches(engine, rows, batch), buffers


def _dedupe(sent):
    seen, out = set(), []
    for fields in sent:
        if fields["intent_id"] not in seen:
            seen.add(fields["intent_id"])
            out.append(fields)
    return out


def test_a_fresh_segment_is_stamped_and_a_reattached_engine_resumes_where_it_stopped():
    config, rows = _config(), _rows()
    expected, expected_buffers = _undisturbed(config, rows)
    engine, buffers = make_engine(config)
    sent = run_batches(engine, rows[:1000], 50)
    engine.release()
    again, _ = make_engine(config, buffers)
    sent += run_batches(again, rows[1000:], 50)
    assert sent == expected
    assert buffers.state.tobytes() == expected_buffers.state.tobytes()
    assert again.stats()["mac"]["replayed"] == 0


def test_an_overlapping_batch_after_a_restart_is_not_applied_twice():
    config, rows = _config(), _rows()
    expected, expected_buffers = _undisturbed(config, rows)
    engine, buffers = make_engine(config)
    sent = run_batches(engine, rows[:1500], 50)
    image = buffers.copy()              # what a SIGKILL right now leaves in the segments
    restarted, _ = make_engine(config, image)
    sent += run_batches(restarted, rows[900:], 50)  # the ring cursor was behind: 600 ticks again
    assert sent == expected
    assert image.state.tobytes() == expected_buffers.state.tobytes()
    replayed = restarted.stats()
    assert replayed["mac"]["replayed"] > 0 and replayed["vwr"]["replayed"] > 0
    assert replayed["mac"]["replayed"] == replayed["vwr"]["replayed"] == 600


def test_intents_raised_but_not_yet_sent_at_a_kill_are_sent_after_the_restart():
    config, rows = _config(), _rows()
    expected, _ = _undisturbed(config, rows)
    engine, buffers = make_engine(config)
    sent = run_batches(engine, rows[:1200], 50)
    consumed, raised = engine.process(rows[1200:1400])  # killed before draining these
    assert consumed == 200 and raised > 0
    image = buffers.copy()
    restarted, _ = make_engine(config, image)
    sent += run_batches(restarted, rows[1200:], 50)
    assert sent == expected


def _first_emitting_tick(config, rows):
    engine, _ = make_engine(config)
    for i in range(len(rows)):
        if engine.process(rows[i:i + 1])[1]:
            return i
    raise AssertionError("no intent in the series")


def test_a_kill_between_the_outbox_write_and_the_state_commit_re_emits_the_same_intent_id():
    config, rows = _config(), _rows()
    expected, expected_buffers = _undisturbed(config, rows)
    i = _first_emitting_tick(config, rows)
    engine, buffers = make_engine(config)
    sent = run_batches(engine, rows[:i], 50)
    words_before = [run.views.commit.copy() for run in engine.runs]
    assert engine.process(rows[i:i + 1])[1] >= 1
    for run, words in zip(engine.runs, words_before):
        run.views.commit[:] = words     # the commit store never happened
    restarted, _ = make_engine(config, buffers)
    sent += run_batches(restarted, rows[i:], 50)
    ids = [fields["intent_id"] for fields in sent]
    assert len(ids) > len(set(ids))     # the intent went out twice, under one id: orders dedupes it
    assert _dedupe(sent) == expected
    assert buffers.state.tobytes() == expected_buffers.state.tobytes()


def test_a_kill_before_the_outbox_count_is_bumped_leaves_no_trace_of_the_intent():
    config, rows = _config(), _rows()
    expected, _ = _undisturbed(config, rows)
    i = _first_emitting_tick(config, rows)
    engine, buffers = make_engine(config)
    sent = run_batches(engine, rows[:i], 50)
    words_before = [run.views.commit.copy() for run in engine.runs]
    written = engine.outbox.write_count
    engine.process(rows[i:i + 1])
    engine.outbox.cursor[WRITE_WORD] = written  # the row was filled, its count never published
    for run, words in zip(engine.runs, words_before):
        run.views.commit[:] = words
    restarted, _ = make_engine(config, buffers)
    sent += run_batches(restarted, rows[i:], 50)
    assert sent == expected             # no duplicate this time: the first row was never visible


def _committed(engine):
    """What the committed state is: commit words, active copies, the rings' committed windows."""
    out = []
    for run in engine.runs:
        v = run.views
        active = [v.copies[s, int(v.commit[s]) & 1].tobytes() for s in range(len(v.commit))]
        out.append((v.commit.tobytes(), active))
        if run.section.kind == "ma_crossover":
            size = v.history.shape[1]
            for s, state in enumerate(active):
                count = int(v.copies[s, int(v.commit[s]) & 1]["count"])
                window = [v.history[s, j % size] for j in range(max(0, count - SLOW), count)]
                out.append(np.array(window).tobytes())
    return out


def test_whatever_a_kill_mid_update_leaves_in_uncommitted_memory_is_never_read():
    config, rows = _config(), _rows()
    expected_engine, _ = make_engine(config)
    expected = run_batches(expected_engine, rows, 50)
    engine, buffers = make_engine(config)
    sent = run_batches(engine, rows[:1300], 50)
    rng = np.random.default_rng(0)
    for run in engine.runs:             # a half-written spare copy and ring slot in every slot
        v = run.views
        for s in range(len(v.commit)):
            spare = 1 - (int(v.commit[s]) & 1)
            v.copies[s:s + 1, spare].view(np.uint8)[:] = rng.integers(0, 256, v.copies.itemsize)
            if run.section.kind == "ma_crossover":
                count = int(v.copies[s, 1 - spare]["count"])
                v.history[s, count % v.history.shape[1]] = rng.normal() * 1e9
    restarted, _ = make_engine(config, buffers)
    sent += run_batches(restarted, rows[1300:], 50)
    assert sent == expected
    assert _committed(restarted) == _committed(expected_engine)


def test_a_state_segment_laid_out_for_another_config_is_refused():
    config = _config()
    engine, buffers = make_engine(config)
    engine.process(_rows(200))
    engine.release()
    other = make_config(
        StrategyConfig(name="mac", kind="ma_crossover", params={"fast": 4, "slow": SLOW + 1})
    )
    with pytest.raises(RingError, match="another build or config"):
        SignalEngine(other, instrument_table(other), _sized(buffers.state, other), buffers.outbox)


def _sized(state_buf, config):
    """The old segment's bytes, in a buffer large enough for `config`'s layout."""
    need = len(Buffers(config).state)
    grown = np.zeros(max(need, len(state_buf)), dtype=np.uint8)
    grown[:len(state_buf)] = state_buf
    return grown


def test_a_state_segment_of_another_layout_version_is_refused():
    config = _config()
    engine, buffers = make_engine(config)
    engine.release()
    buffers.state.view(np.int64)[1] += 1       # written by a build with another STATE_VERSION
    with pytest.raises(RingError, match="layout version"):
        make_engine(config, buffers)


def test_a_segment_that_is_not_the_signals_state_is_refused():
    config = _config()
    buffers = Buffers(config)
    buffers.state[:8] = np.frombuffer(b"OTRTICKS", dtype=np.uint8)
    with pytest.raises(RingError, match="not the signals state"):
        make_engine(config, buffers)


def test_a_segment_too_small_for_the_layout_is_refused():
    config = _config()
    buffers = Buffers(config)
    buffers.state = buffers.state[:-64]
    with pytest.raises(RingError, match="needs"):
        make_engine(config, buffers)
