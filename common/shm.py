"""Shared-memory segments: who owns them, how others attach, and the layout line every segment
starts with.

Ownership. The supervisor creates every segment (`create_segment`) and is the only process that
unlinks it; stages only attach (`attach_segment`). Python 3.11's `SharedMemory(create=False)`
registers the segment with the resource tracker, which then unlinks it when the attaching process
exits (cpython gh-82300) and pulls the ring out from under everyone else. Unregistering after the
fact is not safe either: a child started by fork/spawn/forkserver shares its parent's tracker, so
unregistering would also drop the owner's registration (and the owner's own later unregister makes
the tracker print a KeyError). So an attacher never registers at all: it opens /dev/shm/<name>
(where Linux keeps POSIX shm objects) and maps it itself. Python >= 3.13 has
`SharedMemory(track=False)` for the registration half, but we map segments ourselves on every
version anyway, owner included, because SharedMemory's close()/__del__ unmaps under live numpy views
(see Segment.close). The owner keeps SharedMemory's normal registration on purpose, so that if the
owner dies without unlinking, its tracker still removes the segment.

Names. Every OTrade segment is `otrade_<runid>_<what>`, so `remove_stale()` can clear a dead run's
segments on the next start without touching anything else.

Layout line. The first 64 bytes of a segment describe what follows: magic, layout version, dtype
fingerprint, record size and capacity, as int64 words. The creator writes the magic last, so an
attacher racing the creator sees "not initialised" instead of half a header. `check_layout` refuses
any mismatch and names every field that differs.
"""

import mmap
import os
import re
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from common.dtypes import dtype_fingerprint
from common.errors import RingError

# What a released numpy view of a segment becomes (close/release): an empty array keeps no
# reference to the mapping, and a use after the release fails on its index or field instead of
# reading memory that may be unmapped.
RELEASED = np.empty(0)

PREFIX = "otrade_"
SHM_DIR = "/dev/shm"
LAYOUT_BYTES = 64
_NAME_RE = re.compile(r"^otrade_[A-Za-z0-9][A-Za-z0-9_.-]*$")


def segment_name(run_id: str, what: str) -> str:
    """The segment name for one run's `what` (e.g. segment_name("20250101T0915", "ticks"))."""
    name = f"{PREFIX}{run_id}_{what}"
    _check_name(name)
    return name


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name) or len(name) > 200:
        raise RingError(
            f"bad segment name {name!r}: expected otrade_<runid>_<what> ([A-Za-z0-9_.-])"
        )


class Segment:
    """One mapped segment. `buf` is a memoryview of all of it; only the owner may `unlink()`."""

    def __init__(self, name: str, mapping: mmap.mmap, owner: bool, shm=None):
        self.name = name
        self.buf = memoryview(mapping)
        self.size = len(mapping)
        self.owner = owner
        self._shm = shm
        self._unlinked = False

    def close(self) -> None:
        """Drop this process's reference to the mapping.

        No munmap here on purpose: numpy views of `buf` keep a reference to the mmap object but no
        buffer export, so an explicit mmap.close() (which SharedMemory.close and its __del__ do)
        would leave any surviving view pointing at unmapped memory: a segfault, not an exception.
        The mapping goes away when the last view of it does.
        """
        self.buf = memoryview(b"")      # released: an empty view, no reference to the mapping

    def unlink(self) -> None:
        if not self.owner:
            raise RingError(f"segment {self.name}: only its creator unlinks it")
        if self._unlinked:
            return
        self._unlinked = True
        try:
            self._shm.unlink()
        except FileNotFoundError:
            # Someone (remove_stale) got there first; still drop our tracker registration, or the
            # tracker would try again at exit and report a leak.
            resource_tracker.unregister(self._shm._name, "shared_memory")


def create_segment(name: str, size: int) -> Segment:
    """Create and map a new segment of `size` bytes (zero-filled). The caller owns and unlinks
    it."""
    _check_name(name)
    try:
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
    except FileExistsError as exc:
        raise RingError(f"segment {name} already exists (a stale run? see remove_stale)") from exc
    # SharedMemory did the creating and the tracker registration (and will unlink); the mapping we
    # use is our own, for the reason in Segment.close.
    mapping = _map(name)
    shm.close()
    return Segment(name, mapping, owner=True, shm=shm)


def attach_segment(name: str) -> Segment:
    """Map an existing segment without registering it with the resource tracker (see module
    docstring)."""
    _check_name(name)
    return Segment(name, _map(name), owner=False)


def _map(name: str) -> mmap.mmap:
    try:
        fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
    except FileNotFoundError as exc:
        raise RingError(f"segment {name} does not exist") from exc
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise RingError(f"segment {name} is empty (creator still sizing it?)")
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


def list_segments(prefix: str = PREFIX) -> list[str]:
    """Names of the existing segments starting with `prefix`, sorted."""
    try:
        names = os.listdir(SHM_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def remove_stale(run_id_or_prefix: str) -> list[str]:
    """Unlink the segments of a dead run: a run id, or a prefix starting with `otrade_`. Returns the
    names.

    The caller asserts the run is dead; this does not check (the supervisor knows its previous run
    id).
    """
    prefix = run_id_or_prefix
    if not prefix.startswith(PREFIX):
        prefix = f"{PREFIX}{run_id_or_prefix}_"
    if prefix == PREFIX:
        raise RingError(
            "remove_stale needs a run id or a run-specific prefix, not every otrade_ segment"
        )
    removed = []
    for name in list_segments(prefix):
        try:
            os.unlink(os.path.join(SHM_DIR, name))
            removed.append(name)
        except FileNotFoundError:
            pass
    return removed


def magic_word(tag: bytes) -> int:
    """An 8-byte ASCII tag as the int64 stored in a layout line."""
    return int.from_bytes(tag.ljust(8, b"\0")[:8], "little", signed=True)


@dataclass(frozen=True)
class Layout:
    """What a segment holds: `capacity` records of `dtype` (magic/version identify the segment
    kind)."""

    magic: bytes
    version: int
    dtype: np.dtype
    capacity: int

    def words(self) -> list[int]:
        return [magic_word(self.magic), self.version, dtype_fingerprint(self.dtype),
                self.dtype.itemsize, self.capacity]


def _layout_words(buf: memoryview) -> np.ndarray:
    return np.ndarray((LAYOUT_BYTES // 8,), dtype=np.int64, buffer=buf, offset=0)


def write_layout(buf: memoryview, layout: Layout) -> None:
    """Stamp the layout line; the magic goes last so a half-written header reads as not
    initialised."""
    words = _layout_words(buf)
    values = layout.words()
    words[1:5] = values[1:5]
    words[0] = values[0]


def read_capacity(buf: memoryview) -> int:
    return int(_layout_words(buf)[4])


def check_layout(buf: memoryview, expected: Layout, name: str) -> None:
    """Raise RingError naming every field of the segment's layout line that differs from
    `expected`."""
    words = _layout_words(buf)
    found = [int(w) for w in words[:5]]
    want = expected.words()
    if found[0] == 0:
        raise RingError(
            f"segment {name}: layout not initialised (creator still writing, or not OTrade's)"
        )
    if found[0] != want[0]:
        tag = found[0].to_bytes(8, "little", signed=True).rstrip(b"\0")
        raise RingError(
            f"segment {name}: magic {tag!r}, expected {expected.magic!r}: another kind of segment"
        )
    labels = ["magic", "layout version", "dtype fingerprint", "record size", "capacity"]
    diffs = [f"{labels[i]} {found[i]:#x} != expected {want[i]:#x}" if i == 2
             else f"{labels[i]} {found[i]} != expected {want[i]}"
             for i in range(1, 5) if found[i] != want[i]]
    if diffs:
        raise RingError(f"segment {name} has another layout: " + "; ".join(diffs))
