"""KiteTicker binary frames -> TICK_DTYPE rows, in one numba call per frame (no Python per packet).

A frame is what one websocket binary message carries (all integers big-endian): a uint16 packet
count, then per packet a uint16 length and the packet. The packet's length is its kind:

    8    ltp          token, last price
    28   index quote  token, ltp, high, low, open, close, (change)
    32   index full   as 28, then the exchange timestamp at 28
    44   quote        token, ltp, last qty, avg price, volume, buy qty, sell qty, open, high, low,
                      close
    184  full         as 44, then last trade time, oi, oi high, oi low, exchange timestamp at 60,
                      and depth from 64: five bids then five offers of (uint32 qty, uint32 price,
                      uint16 orders, 2 pad)

A 1-byte message is a heartbeat. Prices are integers in the segment's smallest unit; the segment is
`token & 0xff` and its divisor follows pykiteconnect's `_parse_binary` (see DIVISOR_* below).

Timestamps: Kite's exchange timestamps are Unix epoch seconds, which have no timezone; pykiteconnect
only *renders* them in the host's local zone with `datetime.fromtimestamp`. The mocks' full packet
carries 1625461887, whose expected decode is 2021-07-05 10:41:27+05:30, i.e. 05:11:27 UTC: a true
epoch, not IST wall-clock digits stored as if they were UTC. So seconds * 1e9 is already UTC ns and
no zone arithmetic happens here. Packets without an exchange timestamp (ltp, quote, index quote), or
with a zero one, get ts_event_ns = `wall_ns`, the wall-clock receipt time: the best epoch time we
have at which the state held. Never ts_recv_ns, which is CLOCK_MONOTONIC (common.clock.mono_ns) and
has no epoch.

Malformed input is counted and dropped, never raised: a frame whose lengths do not add up to its
size exactly is dropped whole (nothing in it can be trusted); within a well-formed frame, a packet
of an unknown length or a non-positive price is dropped alone, and a token outside the instrument
table is counted as unknown.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from common.clock import now_ns
from common.dtypes import FLAG_SNAPSHOT, TICK_DTYPE
from feed.sources.base import SourceStats

LEN_LTP = 8
LEN_INDEX_QUOTE = 28
LEN_INDEX_FULL = 32
LEN_QUOTE = 44
LEN_FULL = 184

SEGMENT_CDS = 3     # NSE currency derivatives: prices in 1e-7 rupee
SEGMENT_BCD = 6     # BSE currency derivatives: 1e-4 rupee
SEGMENT_INDICES = 9
SEGMENT_NCO = 12    # NSE commodity: 1e-4 rupee (added in kiteconnect 5.2.2)
DIVISOR_CDS = 10_000_000.0
DIVISOR_BCD = 10_000.0
DIVISOR_DEFAULT = 100.0  # paise, every other segment

# Slots of the counts array the kernel adds to.
C_MALFORMED = 0
C_UNKNOWN = 1
C_HEARTBEAT = 2
C_OVERFLOW = 3   # decodable rows that did not fit in `out`
N_COUNTS = 4

_NS = 1_000_000_000


class TokenIndex(NamedTuple):
    """Sorted Kite tokens and, in parallel, each token's row in the instrument table."""

    tokens: np.ndarray       # int64, ascending, unique
    instruments: np.ndarray  # uint16

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> "TokenIndex":
        """Build from INSTRUMENT_DTYPE rows; rows with token <= 0 (not a Kite instrument) are
        skipped."""
        tokens = rows["token"].astype(np.int64)
        keep = np.flatnonzero(tokens > 0)
        order = keep[np.argsort(tokens[keep], kind="stable")]
        sorted_tokens = tokens[order]
        if sorted_tokens.size > 1 and np.any(sorted_tokens[1:] == sorted_tokens[:-1]):
            raise ValueError("instrument table lists a Kite token twice")
        return cls(np.ascontiguousarray(sorted_tokens), order.astype(np.uint16))

    @classmethod
    def from_mapping(cls, token_to_instrument: dict[int, int]) -> "TokenIndex":
        tokens = np.array(sorted(token_to_instrument), dtype=np.int64)
        instruments = np.array([token_to_instrument[int(t)] for t in tokens], dtype=np.uint16)
        return cls(tokens, instruments)


@njit(cache=True)
def _u16(b, o):
    return (np.int64(b[o]) << 8) | np.int64(b[o + 1])


@njit(cache=True)
def _u32(b, o):
    return (
        (np.int64(b[o]) << 24)
        | (np.int64(b[o + 1]) << 16)
        | (np.int64(b[o + 2]) << 8)
        | np.int64(b[o + 3])
    )


@njit(cache=True)
def segment_divisor(token):
    """Kite's price unit for a token: pykiteconnect's rule, the one place OTrade states it."""
    segment = token & 0xFF
    if segment == SEGMENT_CDS:
        return DIVISOR_CDS
    if segment == SEGMENT_BCD or segment == SEGMENT_NCO:
        return DIVISOR_BCD
    return DIVISOR_DEFAULT


@njit(cache=True)
def _frame_is_well_formed(buf):
    """True when the packet lengths add up to the frame's size exactly."""
    size = buf.shape[0]
    pos = 2
    for _ in range(_u16(buf, 0)):
        if pos + 2 > size:
            return False
        pos += 2 + _u16(buf, pos)
        if pos > size:
            return False
    return pos == size


@njit(cache=True)
def _write_row(buf, p, length, instrument, divisor, price, ts_recv_ns, wall_ns, row):
    row["seq"] = 0
    row["ts_recv_ns"] = ts_recv_ns
    row["ts_event_ns"] = wall_ns
    row["price"] = price
    row["bid"] = 0.0
    row["ask"] = 0.0
    row["volume"] = 0
    row["oi"] = 0
    row["qty"] = 0
    row["instrument"] = instrument
    row["flags"] = 0
    ts_s = 0
    if length == LEN_INDEX_FULL:
        ts_s = _u32(buf, p + 28)
    elif length == LEN_QUOTE or length == LEN_FULL:
        row["qty"] = _u32(buf, p + 8)
        row["volume"] = _u32(buf, p + 16)
        if length == LEN_FULL:
            row["oi"] = _u32(buf, p + 48)
            ts_s = _u32(buf, p + 60)
            row["bid"] = _u32(buf, p + 64 + 4) / divisor       # first bid entry's price
            row["ask"] = _u32(buf, p + 64 + 60 + 4) / divisor  # first offer entry's price
    if ts_s > 0:
        row["ts_event_ns"] = ts_s * _NS


@njit(cache=True)
def decode_kernel(buf, tokens, instruments, snapshot_pending, out, ts_recv_ns, wall_ns, counts):
    """Decode one frame `buf` (uint8) into out[:n]; return n. Adds to `counts` (C_* slots).

    `snapshot_pending[instrument]` != 0 marks the next tick of that instrument FLAG_SNAPSHOT (the
    level Kite sends after a (re)subscription) and clears the mark.
    """
    size = buf.shape[0]
    if size < 2:
        if size == 1:
            counts[C_HEARTBEAT] += 1
        else:
            counts[C_MALFORMED] += 1
        return 0
    if not _frame_is_well_formed(buf):
        counts[C_MALFORMED] += 1
        return 0
    n_tokens = tokens.shape[0]
    n = 0
    pos = 2
    for _ in range(_u16(buf, 0)):
        length = _u16(buf, pos)
        p = pos + 2
        pos = p + length
        if length != LEN_LTP and length != LEN_QUOTE and length != LEN_FULL \
                and length != LEN_INDEX_QUOTE and length != LEN_INDEX_FULL:
            counts[C_MALFORMED] += 1
            continue
        token = _u32(buf, p)
        k = np.searchsorted(tokens, token)
        if k >= n_tokens or tokens[k] != token:
            counts[C_UNKNOWN] += 1
            continue
        divisor = segment_divisor(token)
        price = _u32(buf, p + 4) / divisor
        if price <= 0.0:
            counts[C_MALFORMED] += 1
            continue
        if n >= out.shape[0]:
            counts[C_OVERFLOW] += 1
            continue
        instrument = instruments[k]
        _write_row(buf, p, length, instrument, divisor, price, ts_recv_ns, wall_ns, out[n])
        if snapshot_pending[instrument] != 0:
            out[n]["flags"] = FLAG_SNAPSHOT
            snapshot_pending[instrument] = 0
        n += 1
    return n


class KiteDecoder:
    """Decodes frames for one instrument table, adding its drop counts to `stats`.

    Not thread-safe: one decoder per thread (the source decodes on the websocket thread only).
    """

    def __init__(self, token_index: TokenIndex, stats: SourceStats | None = None):
        self.index = token_index
        self.stats = stats if stats is not None else SourceStats()
        size = int(token_index.instruments.max()) + 1 if token_index.instruments.size else 1
        self.snapshot_pending = np.zeros(size, dtype=np.uint8)
        self._counts = np.zeros(N_COUNTS, dtype=np.int64)

    def decode(self, buf: bytes, out: np.ndarray, ts_recv_ns: int, wall_ns: int) -> int:
        """Decode `buf` into out[:n]; `ts_recv_ns` is mono_ns() at receipt, `wall_ns` now_ns()."""
        counts = self._counts
        counts[:] = 0
        n = decode_kernel(
            np.frombuffer(buf, dtype=np.uint8),
            self.index.tokens,
            self.index.instruments,
            self.snapshot_pending,
            out,
            ts_recv_ns,
            wall_ns,
            counts,
        )
        if counts.any():
            self._add_counts(counts)
        return n

    def mark_snapshot(self, tokens) -> None:
        """The next tick of each of these tokens is a subscription snapshot."""
        tokens = np.asarray(tokens, dtype=np.int64)
        k = np.searchsorted(self.index.tokens, tokens).clip(0, max(self.index.tokens.size - 1, 0))
        if self.index.tokens.size:
            hit = self.index.tokens[k] == tokens
            self.snapshot_pending[self.index.instruments[k[hit]]] = 1

    def warm(self) -> None:
        """Compile (or load from cache) the kernel before the stage reports ready."""
        scratch = np.zeros(1, dtype=TICK_DTYPE)
        counts = np.zeros(N_COUNTS, dtype=np.int64)
        frame = np.frombuffer(b"\x00\x01\x00\x08" + bytes(8), dtype=np.uint8)
        decode_kernel(
            frame,
            self.index.tokens,
            self.index.instruments,
            self.snapshot_pending.copy(),
            scratch,
            0,
            0,
            counts,
        )

    def _add_counts(self, counts: np.ndarray) -> None:
        s = self.stats
        s.dropped_malformed += int(counts[C_MALFORMED])
        s.dropped_unknown += int(counts[C_UNKNOWN])
        for key, slot in (("heartbeats", C_HEARTBEAT), ("dropped_overflow", C_OVERFLOW)):
            if counts[slot]:
                s.extra[key] = s.extra.get(key, 0) + int(counts[slot])


def decode_frame(buf: bytes, token_index: TokenIndex, out: np.ndarray, ts_recv_ns: int,
                 wall_ns: int | None = None, stats: SourceStats | None = None) -> int:
    """One-shot decode of a frame into out[:n] (tests, tools); a live source keeps a KiteDecoder.

    `wall_ns` defaults to now_ns(); see the module docstring for when it is used."""
    wall = now_ns() if wall_ns is None else wall_ns
    return KiteDecoder(token_index, stats).decode(buf, out, ts_recv_ns, wall)
