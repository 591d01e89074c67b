"""Reading a replay file (feed/replayfile.py has the format): the table, and its columns as numpy.

Shared by the replay feed and the post-run report (reports/price_paths.py), which must read a file
exactly alike: a CSV with every known column as text (one malformed number costs its row, not the
whole file; rows with the wrong number of fields are skipped and counted), prices as float64 (NaN
where not a number), symbols with their exchange prefix cut. Times are
`ts_event_ns` (exact int64: nanosecond timestamps do not fit a float), or `ts` as IST wall-clock
text `YYYY-MM-DD HH:MM:SS[.fraction]` (1-9 fraction digits) or a Parquet timestamp. Invalid values
become -1 rather than raising: one bad row costs that row, and the caller counts it.
"""

import numpy as np

from common.clock import IST_OFFSET_NS

INT64_MAX = np.iinfo(np.int64).max
TEXT_COLUMNS = (
    "ts",
    "ts_event_ns",
    "symbol",
    "token",
    "price",
    "qty",
    "volume",
    "bid",
    "ask",
    "oi",
)
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def read_csv_text(path: str, columns: tuple[str, ...] | None = None):
    """(table, rows skipped): the CSV with its known columns as text, only `columns` where given.

    Raises what pyarrow raises for an unreadable file (OSError, ArrowInvalid); the caller names it.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bad = []

    def skip(row):  # rows with the wrong number of fields: count, skip
        bad.append(row.number)
        return "skip"

    if columns is not None:          # only those present: pyarrow refuses a missing included column
        with open(path, "rb") as f:
            header = {c.strip() for c in f.readline().decode().split(",")}
        columns = tuple(c for c in columns if c in header)
    opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in TEXT_COLUMNS},
                                include_columns=list(columns) if columns is not None else None)
    table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
                           convert_options=opts)
    return table, len(bad)


def to_float(col) -> np.ndarray:
    """A pyarrow column → float64, with NaN where a value is missing or unparsable."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        text = pc.utf8_trim_whitespace(col)
        text = pc.if_else(pc.fill_null(pc.match_substring_regex(text, NUMBER), False), text, None)
        col = pc.cast(text, pa.float64())
    return col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def symbol_codes(col) -> tuple[list[str], np.ndarray]:
    """(distinct symbols without exchange prefix, each row's index into them; len(names) if null).

    Dictionary-encoded, so a caller's per-symbol Python work runs once per distinct symbol.
    """
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(col).combine_chunks()
    names = [str(s).rsplit(":", 1)[-1] for s in encoded.dictionary.to_pylist()]
    return names, encoded.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)


def to_int(col) -> np.ndarray:
    """A pyarrow column → int64 (exactly: nanosecond timestamps do not fit a float), -1 where
    invalid."""
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
    """`YYYY-MM-DD HH:MM:SS[.f…]` (1-9 fraction digits) → ns of that wall time read as UTC, -1 if
    invalid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(col)
    whole = pc.strptime(pc.utf8_slice_codeunits(text, 0, 19), format="%Y-%m-%d %H:%M:%S", unit="ns",
                        error_is_null=True)
    tail = pc.utf8_slice_codeunits(text, 19)
    ok = pc.fill_null(pc.match_substring_regex(tail, r"^(\.\d{1,9})?$"), False)
    # ".25" → 250000000
    digits = pc.utf8_rpad(pc.utf8_slice_codeunits(tail, 1), width=9, padding="0")
    ns = pc.add(whole.cast(pa.int64()), pc.cast(pc.if_else(ok, digits, None), pa.int64()))
    return ns.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _typed_ns(col) -> np.ndarray:
    """A Parquet timestamp column → ns since the epoch, -1 where null or beyond int64 in ns."""
    import pyarrow as pa

    per = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[col.type.unit]
    raw = (
        col.cast(pa.int64())
        .fill_null(-1)
        .to_numpy(zero_copy_only=False)
        .astype(np.int64, copy=False)
    )
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
