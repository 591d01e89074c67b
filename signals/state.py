"""The signals stage's indicator state, laid over the shared-memory segment the supervisor created.

Per configured strategy (signals/layout.py gives the offsets): a commit word per slot, two copies of
the strategy's STATE_DTYPE per slot and the price-history rings. The tick-by-tick protocol that
makes each update crash-atomic is in kernels/commit.py; this module only maps the arrays, stamps a
fresh segment and refuses one laid out by a different build or config.

Header (the first 64 bytes, int64 words): magic, version, fingerprint (signals/layout.py), total
bytes, total slots. A zero magic means the supervisor's fresh zero-filled segment; zero-filled state
is the valid initial state (nothing applied, copy 0 active), so the header may be stamped at any
time and a crash while stamping is harmless. The magic goes last.
"""

from dataclasses import dataclass

import numpy as np

from common.errors import RingError
from common.shm import RELEASED, magic_word
from signals.kernels.commit import last_seq_of
from signals.layout import HEADER_BYTES, STATE_MAGIC, STATE_VERSION, StateLayout, StrategySection

_LABELS = ("magic", "layout version", "fingerprint", "bytes", "slots")


@dataclass
class StrategyState:
    """One strategy's arrays in the segment."""

    section: StrategySection
    commit: np.ndarray    # int64[slots]: (last_seq << 1) | active
    copies: np.ndarray    # STATE_DTYPE[slots, 2]
    history: np.ndarray   # float64[slots, history_len]

    def last_seq(self, slot: int) -> int:
        """Sequence of the last tick applied to `slot` (0: none)."""
        return int(last_seq_of(self.commit[slot]))

    def current(self, slot: int) -> np.void:
        """A copy of the committed state of `slot`."""
        return self.copies[slot, int(self.commit[slot]) & 1].copy()


class SignalState:
    """Every strategy's state over `buf[offset:]`; RingError if the segment has another layout."""

    def __init__(self, buf, layout: StateLayout, offset: int = 0, name: str = "signals_state"):
        view = memoryview(buf).cast("B")[offset:]
        if len(view) < layout.total_bytes:
            raise RingError(
                f"{name}: {len(view)} bytes, the signals state needs {layout.total_bytes}"
            )
        self.layout = layout
        self._header = np.ndarray((HEADER_BYTES // 8,), np.int64, view, 0)
        expected = [magic_word(STATE_MAGIC), STATE_VERSION, layout.fingerprint, layout.total_bytes,
                    layout.slots]
        if self._header[0] == 0:
            self._header[1:5] = expected[1:5]
            self._header[0] = expected[0]
        _check_header(self._header, expected, name)
        self.strategies = [_views(view, section) for section in layout.sections]

    def release(self) -> None:
        """Drop the numpy views, so the segment can be closed."""
        self._header = RELEASED
        self.strategies = []


def _check_header(header: np.ndarray, expected: list[int], name: str) -> None:
    found = [int(word) for word in header[:5]]
    if found[0] != expected[0]:
        tag = found[0].to_bytes(8, "little", signed=True).rstrip(b"\0")
        raise RingError(
            f"segment {name}: magic {tag!r}, expected {STATE_MAGIC!r}: not the signals state"
        )
    diffs = [f"{_LABELS[i]} {found[i]:#x} != expected {expected[i]:#x}"
             for i in range(1, 5) if found[i] != expected[i]]
    if diffs:
        raise RingError(
            f"segment {name} was laid out for another build or config of the strategies "
            f"(refusing to reinterpret its bytes): " + "; ".join(diffs)
        )


def _views(view: memoryview, section: StrategySection) -> StrategyState:
    slots = section.slots
    commit = np.ndarray((slots,), np.int64, view, section.commit_offset)
    copies = np.ndarray((slots, 2), section.cls.STATE_DTYPE, view, section.copies_offset)
    history = np.ndarray((slots, section.history_len), np.float64, view, section.history_offset)
    return StrategyState(section, commit, copies, history)
