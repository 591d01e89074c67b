"""JournalReader.skip_below(s) then read_from(s) reads exactly what a plain read_from(s) reads.

skip_below bisects the file on its seqs so a restarted orders does not read the day's intents it
has handled; it must never land past the first record with seq >= s (an intent lost), nor leave
`line_no` wrong (every later JournalCorrupt would name the wrong line). Searched by hypothesis over
journals of any shape: seqs with gaps, lines from a few bytes to past the 4 KiB read window and past
1 MiB, files above and below the 64 KiB bisect threshold, a torn last line, a target below the
first seq, inside a gap, at the last seq or beyond it. A writer appending while the reader
catches up is covered at the end.
"""

import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.journal import JournalReader, JournalWriter
from common.messages import SignalRaised

EXAMPLES = int(os.environ.get("OTRADE_PROPERTY_EXAMPLES", "60"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=not os.environ.get("OTRADE_PROPERTY_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow])
# Line padding: mostly short, some past the 4 KiB window, a few past 64 KiB, rarely past 1 MiB.
PADS = st.one_of(st.integers(0, 300), st.integers(0, 300), st.integers(0, 300),
                 st.integers(4000, 9000), st.integers(65_000, 70_000),
                 st.just(0), st.integers(1 << 20, (1 << 20) + 5000).filter(lambda n: n % 97 == 0))


def raised(seq: int, pad: int) -> SignalRaised:
    return SignalRaised(source="signals", seq=seq, ts_event_ns=seq, ts_init_ns=seq,
                        intent_id=f"s:0:{seq}", strategy="s", instrument=0, symbol="SYM0", side=1,
                        qty=1, order_type="MARKET", limit_price=0.0, stop_loss=0.0, target=0.0,
                        tick_seq=seq, ts_recv_ns=seq, reason="x" * pad)


@st.composite
def journals(draw):
    """(seqs, pads, torn tail bytes, target seq)."""
    n = draw(st.integers(0, 700))
    gaps = draw(st.lists(st.sampled_from([1, 1, 1, 1, 2, 5]), min_size=n, max_size=n))
    first = draw(st.integers(1, 3))
    seqs = [first + sum(gaps[:i]) for i in range(n)]
    big = draw(st.lists(st.tuples(st.integers(0, max(0, n - 1)), PADS), max_size=4))
    pads = [draw(st.integers(0, 120)) for _ in range(n)] if n < 60 else [40] * n
    for i, pad in big:
        if n:
            pads[i] = pad
    torn = draw(st.sampled_from([b"", b"", b'{"type":"SignalRaised","seq":', b"x" * 5000]))
    last = seqs[-1] if seqs else 0
    target = draw(st.one_of(st.integers(0, last + 3), st.sampled_from([1, 2, last, last + 1])))
    return seqs, pads, torn, target


def plain(path: str, target: int):
    with JournalReader(path) as reader:
        got = [(m.seq, len(m.reason)) for m in reader.read_from(target)]
        return got, reader.offset, reader.line_no, reader.last_seq


def skipping(path: str, target: int):
    with JournalReader(path) as reader:
        reader.skip_below(target)
        with open(path, "rb") as f:
            head = f.read(reader.offset)
        assert reader.line_no == head.count(b"\n")          # exact where it landed
        assert not head or head.endswith(b"\n")             # at a line start
        got = [(m.seq, len(m.reason)) for m in reader.read_from(target)]
        return got, reader.offset, reader.line_no, reader.last_seq


@PROPERTY
@given(journals())
def test_skip_below_then_read_from_reads_what_read_from_reads(journal):
    seqs, pads, torn, target = journal
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "signals.jsonl")
        with JournalWriter(path, "never") as writer:
            for seq, pad in zip(seqs, pads):
                writer.append(raised(seq, pad))
        with open(path, "ab") as f:
            f.write(torn)
        expected = plain(path, target)
        assert [s for s, _ in expected[0]] == [s for s in seqs if s >= target]
        got = skipping(path, target)
        assert got[:3] == expected[:3]
        # last_seq may differ only when nothing at or above the target exists (lines skipped)
        assert got[3] == expected[3] or not expected[0]


def test_skip_below_with_a_writer_appending_between_the_bisect_and_the_read(tmp_path):
    path = str(tmp_path / "signals.jsonl")
    with JournalWriter(path, "never") as writer:
        for seq in range(1, 3001):
            writer.append(raised(seq, 30))
        with JournalReader(path) as reader:
            reader.skip_below(2500)
            for seq in range(3001, 3101):       # appended after the bisect measured the file
                writer.append(raised(seq, 30))
            writer.flush()
            assert [m.seq for m in reader.read_from(2500)] == list(range(2500, 3101))
