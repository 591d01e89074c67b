"""Where everything of the signals stage lives in its two shared-memory segments, from the config
alone.

The supervisor creates (zero-filled) and owns both segments; it calls `segment_sizes(config)` to
know how big to make them. The signals process attaches and lays its arrays over them
(signals/state.py, signals/outbox.py), so a restarted signals process finds its indicators and its
unsent intents where it left them.

    signals_state    64-byte header line (magic, version, fingerprint, bytes, slots), then per
                     configured strategy, each part 64-byte aligned:
                         commit   int64[slots]                 (last_seq << 1) | active copy
                         copies   STATE_DTYPE[slots, 2]        two copies of each slot's state
                         history  float64[slots, history_len]  price rings (not double-buffered)
    signals_outbox   see signals/outbox.py: header, write/read counts, OUTBOX_CAPACITY intent rows

A slot is one (strategy, instrument) pair, in the order of `config.strategy_symbols(strategy)`. The
fingerprint covers everything that gives the bytes their meaning (strategy names, kinds, state
dtypes, slot symbols, history lengths, params), so a process built for another layout refuses the
segment.
"""

import hashlib
from dataclasses import dataclass

import msgspec
import numpy as np

from common.dtypes import dtype_fingerprint
from signals.outbox import INTENT_DTYPE, ROWS_OFFSET
from signals.strategies import STRATEGIES
from signals.strategy import Strategy

STATE_SEGMENT = "signals_state"
OUTBOX_SEGMENT = "signals_outbox"
STATE_MAGIC = b"OTSIGST"
STATE_VERSION = 1
HEADER_BYTES = 64
OUTBOX_CAPACITY = 4096  # intents; a power of two. 72 bytes each: 288 KiB.
_ALIGN = 64


def _aligned(nbytes: int) -> int:
    return (nbytes + _ALIGN - 1) // _ALIGN * _ALIGN


@dataclass(frozen=True)
class StrategySection:
    """One configured strategy's part of the state segment."""

    index: int               # position in config.strategies: the `strategy` field of its intents
    name: str
    kind: str
    cls: type[Strategy]      # the STRATEGIES entry
    params: object           # validated params Struct
    symbols: tuple[str, ...]  # slot k trades symbols[k]
    history_len: int
    commit_offset: int
    copies_offset: int
    history_offset: int

    @property
    def slots(self) -> int:
        return len(self.symbols)

    def describe(self) -> str:
        """What the fingerprint covers for this strategy."""
        params = msgspec.json.encode(self.params).decode()
        return (f"{self.index}|{self.name}|{self.kind}|{dtype_fingerprint(self.cls.STATE_DTYPE):x}|"
                f"{','.join(self.symbols)}|{self.history_len}|{params}")


@dataclass(frozen=True)
class StateLayout:
    sections: tuple[StrategySection, ...]
    total_bytes: int
    fingerprint: int

    @property
    def slots(self) -> int:
        return sum(section.slots for section in self.sections)

    @classmethod
    def from_config(cls, config) -> "StateLayout":
        sections, offset = [], HEADER_BYTES
        for index, strategy in enumerate(config.strategies):
            section = _section(config, index, strategy, offset)
            sections.append(section)
            offset = section.history_offset + _aligned(section.slots * section.history_len * 8)
        desc = f"{STATE_VERSION}|" + "||".join(section.describe() for section in sections)
        digest = hashlib.blake2b(desc.encode(), digest_size=8).digest()
        return cls(tuple(sections), offset, int.from_bytes(digest, "little") >> 1)


def _section(config, index: int, strategy, offset: int) -> StrategySection:
    kind_cls = STRATEGIES[strategy.kind]
    params = kind_cls.resolve_params(strategy.params)
    symbols = tuple(config.strategy_symbols(strategy))
    history_len = max(1, int(kind_cls.history_len(params)))
    slots = len(symbols)
    copies_offset = offset + _aligned(slots * 8)
    history_offset = copies_offset + _aligned(slots * 2 * kind_cls.STATE_DTYPE.itemsize)
    return StrategySection(
        index,
        strategy.name,
        strategy.kind,
        kind_cls,
        params,
        symbols,
        history_len,
        offset,
        copies_offset,
        history_offset,
    )


def outbox_bytes(capacity: int = OUTBOX_CAPACITY) -> int:
    return ROWS_OFFSET + capacity * INTENT_DTYPE.itemsize


def segment_sizes(config) -> dict[str, int]:
    """Bytes the supervisor must create for each signals segment: {"signals_state": n,
    "signals_outbox": m}."""
    return {
        STATE_SEGMENT: StateLayout.from_config(config).total_bytes,
        OUTBOX_SEGMENT: outbox_bytes(),
    }


def aligned_buffer(nbytes: int) -> np.ndarray:
    """A zero-filled, 64-byte aligned process-local buffer: a stand-in for a segment (tests,
    tools)."""
    raw = np.zeros(nbytes + _ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start:start + nbytes]
