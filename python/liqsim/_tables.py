"""Turning user tables into the contiguous numpy columns the core reads, and coded result columns
back into readable ones.

Accepted inputs: anything with the Arrow PyCapsule interface (pyarrow, polars, pandas >= 2.2,
duckdb), a pyarrow Table/RecordBatch, or a mapping of column name -> array-like. Every problem raises
:class:`liqsim.ScenarioError` naming the table, the column and, when it is about one value, the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._choices import EXTRA_COLUMNS, closest, did_you_mean, parse
from .errors import ScenarioError


def scenario_error(table: str, column: str | None, row: int | None, message: str) -> ScenarioError:
    where = f"table '{table}'"
    if column is not None:
        where += f", column '{column}'"
    if row is not None:
        where += f", row {row}"
    err = ScenarioError(f"{where}: {message}")
    err.table, err.column, err.row = table, column, row
    return err


def as_table(data: object, table: str) -> pa.Table:
    """Any supported tabular object as a pyarrow Table."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, Mapping):
        columns = {}
        for name, values in data.items():
            try:
                columns[str(name)] = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(np.asarray(values))
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise scenario_error(table, str(name), None, f"cannot be read as a column: {exc}") from None
        lengths = {len(c) for c in columns.values()}
        if len(lengths) > 1:
            raise scenario_error(table, None, None, f"columns have different lengths: { {k: len(v) for k, v in columns.items()} }")
        return pa.table(columns)
    if hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__"):
        try:
            t = pa.table(data)
            # A pandas index that is not a plain range comes along as __index_level_N__: it is
            # the frame's row labels, not data (pd.concat leaves one).
            return t.drop_columns([c for c in t.column_names if c.startswith("__index_level_")])
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise scenario_error(table, None, None, f"could not be read through the Arrow interface: {exc}") from None
    raise scenario_error(
        table, None, None,
        f"expected an Arrow-compatible table (pyarrow, polars, pandas, duckdb) or a dict of arrays, got {type(data).__name__}",
    )


def check_columns(t: pa.Table, table: str, accepted: Sequence[str], extra_columns: str = "raise") -> None:
    """Refuse columns liqsim would not read (a misspelt ``qty`` must not load as "no quantity").

    ``extra_columns="ignore"`` lets a wider table through on purpose. The error names the unknown
    columns, the accepted ones and the closest accepted name of each.
    """
    mode = parse("extra_columns", extra_columns, EXTRA_COLUMNS)
    unknown = [c for c in t.column_names if c not in accepted]
    if not unknown or mode == "ignore":
        return
    hints = []
    for c in unknown:
        match = closest(c, accepted)
        hints.append(f"{c!r} (did you mean {match!r}?)" if match is not None else repr(c))
    raise scenario_error(
        table, unknown[0], None,
        f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; accepted columns: {list(accepted)} "
        "(pass extra_columns='ignore' to skip columns liqsim does not use)",
    )


def _column(t: pa.Table, table: str, name: str, required: bool) -> pa.Array | None:
    if name not in t.column_names:
        if required:
            raise scenario_error(table, name, None, f"required column is missing (columns: {t.column_names})")
        return None
    return t.column(name).combine_chunks()


def _first_null(arr: pa.Array) -> int | None:
    if arr.null_count == 0:
        return None
    return int(np.flatnonzero(~np.asarray(arr.is_valid()))[0])


@overload
def float_column(t: pa.Table, table: str, name: str, required: Literal[True]) -> np.ndarray: ...
@overload
def float_column(t: pa.Table, table: str, name: str, required: bool = False) -> np.ndarray | None: ...
def float_column(t: pa.Table, table: str, name: str, required: bool = False) -> np.ndarray | None:
    """float64 column; nulls become NaN (the core's "no value")."""
    arr = _column(t, table, name, required)
    if arr is None:
        return None
    if not (pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_decimal(arr.type) or pa.types.is_null(arr.type)):
        raise scenario_error(table, name, None, f"must be numeric, got {arr.type}")
    arr = pc.cast(arr, pa.float64())
    return np.ascontiguousarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


@overload
def int_column(t: pa.Table, table: str, name: str, default: int | None = None, *, required: Literal[True]) -> np.ndarray: ...
@overload
def int_column(t: pa.Table, table: str, name: str, default: int | None = None, required: bool = False) -> np.ndarray | None: ...
def int_column(t: pa.Table, table: str, name: str, default: int | None = None, required: bool = False) -> np.ndarray | None:
    """int64 column; nulls (and NaN in a float column) become ``default``, or are an error when
    there is none."""
    arr = _column(t, table, name, required)
    if arr is None:
        return None
    return _int_values(arr, table, name, default)


def _int_values(arr: pa.Array, table: str, name: str, default: int | None) -> np.ndarray:
    n = len(arr)
    if pa.types.is_null(arr.type):  # every value missing (e.g. a column of None)
        if default is None:
            raise scenario_error(table, name, 0 if n else None, "missing value")
        return np.full(n, default, dtype=np.int64)
    if pa.types.is_floating(arr.type):
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
        missing = np.isnan(values)
        bad = np.flatnonzero(~missing & (~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**63)))
        if len(bad):
            raise scenario_error(table, name, int(bad[0]), f"must be a whole number, got {values[bad[0]]}")
        if missing.any():
            if default is None:
                raise scenario_error(table, name, int(np.flatnonzero(missing)[0]), "missing value")
            values[missing] = default
        return values.astype(np.int64)
    if not pa.types.is_integer(arr.type):
        raise scenario_error(table, name, None, f"must be integer, got {arr.type}")
    if pa.types.is_uint64(arr.type):
        too_big = np.flatnonzero(np.asarray(pc.fill_null(pc.greater(arr, pa.scalar(2**63 - 1, pa.uint64())), False)))
        if len(too_big):
            raise scenario_error(table, name, int(too_big[0]), f"{arr[int(too_big[0])].as_py()} is out of range")
    arr = pc.cast(arr, pa.int64())  # widen first, so the default always fits
    if arr.null_count:
        if default is None:
            raise scenario_error(table, name, _first_null(arr), "missing value")
        arr = pc.fill_null(arr, default)
    return np.ascontiguousarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)


def time_column(t: pa.Table, table: str, name: str) -> np.ndarray | None:
    """Integer nanoseconds from an int64 or timestamp column."""
    arr = _column(t, table, name, False)
    if arr is None:
        return None
    if pa.types.is_timestamp(arr.type):
        if arr.null_count:
            raise scenario_error(table, name, _first_null(arr), "missing timestamp")
        try:
            arr = pc.cast(pc.cast(arr, pa.timestamp("ns")), pa.int64())  # a checked cast: no wrap
        except pa.ArrowInvalid as exc:
            raise scenario_error(table, name, None, f"a time outside int64 nanoseconds (±292 years of 1970): {exc}") from None
    return _int_values(arr, table, name, None)


#: Code for "no value" in a categorical column; the core reports it only if a row needs the value.
MISSING_CODE = 255


@overload
def code_column(
    t: pa.Table, table: str, name: str, codes: Mapping[str, int], default: int | None = None, *, required: Literal[True]
) -> np.ndarray: ...
@overload
def code_column(
    t: pa.Table, table: str, name: str, codes: Mapping[str, int], default: int | None = None, required: bool = False
) -> np.ndarray | None: ...
def code_column(
    t: pa.Table, table: str, name: str, codes: Mapping[str, int], default: int | None = None, required: bool = False
) -> np.ndarray | None:
    """A categorical column as uint8 codes: strings are looked up (case-insensitive) in ``codes``;
    integer columns are taken as codes already and range-checked. Nulls become ``default``, or
    :data:`MISSING_CODE` when there is none (an error for a ``required`` column)."""
    arr = _column(t, table, name, required)
    if arr is None:
        return None  # the core applies its own default for an absent column
    n_codes = max(codes.values()) + 1
    if required and arr.null_count:
        raise scenario_error(table, name, _first_null(arr), "missing value")
    fill = MISSING_CODE if default is None else default
    if pa.types.is_integer(arr.type):
        values = _int_values(arr, table, name, fill)
        bad = np.flatnonzero((values != fill) & ((values < 0) | (values >= n_codes)))
        if len(bad):
            raise scenario_error(table, name, int(bad[0]), f"code {values[bad[0]]} is not one of 0..{n_codes - 1}")
        return values.astype(np.uint8)
    if pa.types.is_dictionary(arr.type):
        # Look the (few) dictionary values up once, then index: the fast path for big tables, and
        # the only one for dictionary<string_view> (polars Categorical), which pyarrow cannot decode.
        value_codes, unknown = _lookup(arr.dictionary, table, name, codes, fill)
        indices = arr.indices
        if unknown is not None:
            hits = np.flatnonzero(np.asarray(pc.fill_null(pc.equal(indices, unknown), False)))
            if len(hits):
                row = int(hits[0])
                value = arr.dictionary[unknown].as_py()
                raise scenario_error(table, name, row, f"{value!r} is not one of {sorted(codes)}{did_you_mean(value, codes)}")
        lut = np.append(value_codes, np.uint8(fill))
        return np.asarray(lut[pc.fill_null(indices, len(value_codes)).to_numpy(zero_copy_only=False)])
    value_codes, unknown = _lookup(arr, table, name, codes, fill)
    if unknown is not None:
        value = arr[unknown].as_py()
        raise scenario_error(table, name, unknown, f"{value!r} is not one of {sorted(codes)}{did_you_mean(value, codes)}")
    return value_codes


def _lookup(values: pa.Array, table: str, name: str, codes: Mapping[str, int], fill: int) -> tuple[np.ndarray, int | None]:
    """uint8 codes of string values (nulls → ``fill``) and the index of the first unknown value."""
    if not (
        pa.types.is_string(values.type)
        or pa.types.is_large_string(values.type)
        or pa.types.is_string_view(values.type)
        or pa.types.is_null(values.type)
    ):
        raise scenario_error(table, name, None, f"must be text (one of {sorted(codes)}), got {values.type}")
    keys = list(codes)
    text = pc.utf8_trim_whitespace(pc.utf8_lower(pc.cast(values, pa.string())))  # as _choices.parse
    index = pc.index_in(text, value_set=pa.array(keys))
    unknown = pc.and_(pc.is_null(index), pc.is_valid(values))
    first_unknown = int(np.flatnonzero(np.asarray(unknown))[0]) if pc.any(unknown).as_py() else None
    # Nulls (no value) point one past the real keys, at `fill`.
    lut = np.array([codes[k] for k in keys] + [fill], dtype=np.uint8)
    return np.asarray(lut[pc.fill_null(index, len(keys)).to_numpy(zero_copy_only=False)]), first_unknown

