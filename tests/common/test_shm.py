"""Segment ownership, names, stale-run clean-up and the layout line."""

import os
import subprocess
import sys

import numpy as np
import pytest

from common.dtypes import INSTRUMENT_DTYPE, TICK_DTYPE
from common.errors import RingError
from common.shm import (
    Layout,
    attach_segment,
    check_layout,
    create_segment,
    list_segments,
    remove_stale,
    segment_name,
    write_layout,
)
from tests.support import unique_run_id, unique_segment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def owned():
    made = []

    def make(name=None, size=4096):
        segment = create_segment(name or unique_segment("seg"), size)
        made.append(segment)
        return segment

    yield make
    for segment in made:
        segment.close()
        segment.unlink()


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run code in a separate interpreter: its own resource tracker, as a restarted stage has."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_attached_process_sees_the_owners_bytes(owned):
    segment = owned()
    segment.buf[:5] = b"hello"
    other = attach_segment(segment.name)
    assert bytes(other.buf[:5]) == b"hello" and other.size == 4096
    other.close()


def test_a_process_that_attaches_and_exits_does_not_unlink_the_segment(owned):
    segment = owned()
    result = run_python(f"from common.shm import attach_segment\n"
                        f"s = attach_segment({segment.name!r}); s.buf[0] = 7; s.close()")
    assert result.returncode == 0, result.stderr
    assert segment.name in list_segments() and segment.buf[0] == 7
    assert "leaked" not in result.stderr


@pytest.mark.skipif(
    sys.version_info >= (3, 13), reason="track=False fixes this in the standard library"
)
def test_plain_sharedmemory_attach_would_unlink_it_which_is_why_attach_segment_exists(owned):
    segment = owned()
    result = run_python(f"from multiprocessing import shared_memory\n"
                        f"shared_memory.SharedMemory({segment.name!r}).close()")
    assert result.returncode == 0, result.stderr
    assert segment.name not in list_segments()  # the attacher's resource tracker removed it


def test_only_the_creator_may_unlink(owned):
    segment = owned()
    other = attach_segment(segment.name)
    with pytest.raises(RingError, match="only its creator"):
        other.unlink()
    other.close()


def test_numpy_views_stay_valid_after_close(owned):
    segment = owned()
    view = np.ndarray((4,), np.int64, segment.buf, 0)
    segment.close()
    view[0] = 5  # would segfault had close() unmapped under the view
    assert view[0] == 5


def test_creating_an_existing_name_is_refused(owned):
    segment = owned()
    with pytest.raises(RingError, match="already exists"):
        create_segment(segment.name, 64)


def test_attaching_a_missing_name_is_refused():
    with pytest.raises(RingError, match="does not exist"):
        attach_segment(unique_segment("missing"))


@pytest.mark.parametrize("name", ["ticks", "otrade_", "otrade_/x", "otrade_a b", "psm_123"])
def test_names_outside_the_otrade_scheme_are_refused(name):
    with pytest.raises(RingError, match="bad segment name"):
        create_segment(name, 64)


def test_segment_name_is_prefix_run_id_and_what():
    assert segment_name("20250101T0915", "ticks") == "otrade_20250101T0915_ticks"


def test_remove_stale_removes_only_the_named_runs_segments(owned):
    dead, live = unique_run_id(), unique_run_id()
    for what in ("ticks", "instruments"):  # a SIGKILLed run's leftovers: plain files in /dev/shm
        with open(os.path.join("/dev/shm", segment_name(dead, what)), "wb") as leftover:
            leftover.write(bytes(64))
    survivor = owned(segment_name(live, "ticks"))
    assert remove_stale(dead) == [segment_name(dead, "instruments"), segment_name(dead, "ticks")]
    assert list_segments(f"otrade_{dead}_") == []
    assert survivor.name in list_segments(f"otrade_{live}_")


def test_remove_stale_accepts_a_prefix_but_not_every_otrade_segment(owned):
    segment = owned()
    assert remove_stale(segment.name) == [segment.name]
    with pytest.raises(RingError, match="run-specific"):
        remove_stale("otrade_")


def test_layout_check_names_every_field_that_differs(owned):
    segment = owned()
    write_layout(segment.buf, Layout(b"OTRTEST", 1, TICK_DTYPE, 1024))
    check_layout(segment.buf, Layout(b"OTRTEST", 1, TICK_DTYPE, 1024), segment.name)
    with pytest.raises(RingError) as error:
        check_layout(segment.buf, Layout(b"OTRTEST", 2, INSTRUMENT_DTYPE, 512), segment.name)
    message = str(error.value)
    for field in (
        "layout version 1 != expected 2",
        "dtype fingerprint",
        "record size 64 != expected 128",
        "capacity 1024 != expected 512",
    ):
        assert field in message


def test_layout_check_refuses_an_uninitialised_segment(owned):
    segment = owned()
    with pytest.raises(RingError, match="not initialised"):
        check_layout(segment.buf, Layout(b"OTRTEST", 1, TICK_DTYPE, 8), segment.name)
