"""The time and integer columns of a replay file (feed/replayfile.py has the format), as numpy.

Shared by the replay feed and the post-run report, which must read a file's times exactly alike:
`ts_event_ns` (exact int64: nanosecond timestamps do not fit a float), or `ts` as IST wall-clock text
`YYYY-MM-DD HH:MM:SS[.fraction]` (1-9 fraction digits) or a Parquet timestamp. Invalid values become
-1 rather than raising: one bad row costs that row, and the caller counts it.
"""

import numpy as np

from common.clock import IST_OFFSET_NS

INT64_MAX = np.iinfo(np.int64).max


def to_int(col) -> np.ndarray:
    """A pyarrow column → int64 (exactly: nanosecond timestamps do not fit a float), -1 where invalid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        text = pc.utf8_trim_whitespace(col)
        digits = pc.fill_null(pc.match_substring_regex(text, r"^\d{1,19}$"), False)
        # 19 digits may exceed int64: same length, so text order is number order.
        fits = pc.or_(pc.less(pc.utf8_length(text), 19), pc.less_equal(text, str(INT64_MAX)))
        ok = pc.and_(digits, pc.fill_null(fits, False))
        col = pc.cast(pc.if_else(ok, text, None), pa.int64())
    elif pa.types.is_unsigned_integer(col.type):
        col = pc.if_else(pc.less_equal(col, INT64_MAX), col, None).cast(pa.int64())
    elif not pa.types.is_integer(col.type):
        col = pc.cast(col, pa.int64(), safe=False)
    return col.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _text_ns(col) -> np.ndarray:
    """`YYYY-MM-DD HH:MM:SS[.f…]` (1-9 fraction digits) → ns of that wall time read as UTC, -1 if invalid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(col)
    whole = pc.strptime(pc.utf8_slice_codeunits(text, 0, 19), format="%Y-%m-%d %H:%M:%S", unit="ns",
                        error_is_null=True)
    tail = pc.utf8_slice_codeunits(text, 19)
    ok = pc.fill_null(pc.match_substring_regex(tail, r"^(\.\d{1,9})?$"), False)
    digits = pc.utf8_rpad(pc.utf8_slice_codeunits(tail, 1), width=9, padding="0")   # ".25" → 250000000
    ns = pc.add(whole.cast(pa.int64()), pc.cast(pc.if_else(ok, digits, None), pa.int64()))
    return ns.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _typed_ns(col) -> np.ndarray:
    """A Parquet timestamp column → ns since the epoch, -1 where null or beyond int64 in ns."""
    import pyarrow as pa

    per = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[col.type.unit]
    raw = col.cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    fits = (raw > 0) & (raw <= INT64_MAX // per)
    return np.where(fits, raw * np.where(fits, per, 1), -1)


def timestamps(table) -> np.ndarray:
    import pyarrow as pa

    if "ts_event_ns" in table.column_names:
        return to_int(table.column("ts_event_ns"))
    col = table.column("ts")
    if pa.types.is_timestamp(col.type):
        ns = _typed_ns(col)
        if col.type.tz is not None:      # zone-aware: already UTC
            return ns
    else:
        ns = _text_ns(col)
    return np.where(ns > IST_OFFSET_NS, ns - IST_OFFSET_NS, -1).astype(np.int64)   # IST wall time
