"""`liqsim.Table`: the one result type of every table liqsim returns.

A read-only mapping of column name → numpy array (so ``res["price"]`` stays numpy) that also
speaks Arrow: ``to_arrow()``, ``to_pandas()``, ``to_polars()`` and ``__arrow_c_stream__`` (so
``pa.table(res)``, ``pl.DataFrame(res)`` and duckdb read it directly).

Conversions: ``table.to_pandas()`` and ``table.to_polars()`` keep the types. ``pa.table(table)``
and duckdb read the Arrow stream directly. ``pl.DataFrame(table)`` sees a Mapping and builds from
the numpy columns (strings, int64 ``ts``); ``pd.DataFrame(table)`` is refused with a pointer to
``to_pandas()``, since pandas would read a non-dict mapping's column names as rows.

Typed columns:
- timestamps (int64 ns since the Unix epoch) become ``timestamp[ns, UTC]`` in Arrow;
- durations (int64 ns) become ``duration[ns]``;
- categories are kept as the core's small integer codes plus their names: the numpy string array
  is built only when a user indexes that column (then cached), and the Arrow, pandas and polars
  conversions use dictionary / categorical types without building strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa


class Table(Mapping[str, np.ndarray]):
    """A table of equal-length numpy columns with Arrow, pandas and polars conversions.

    Parameters
    ----------
    columns : mapping of str to array
        The columns, in order. A categorical column holds integer codes (negative = null).
    categories : mapping of column name to the names of its codes, optional
    timestamps : names of int64 columns holding ns since the Unix epoch (UTC)
    durations : names of int64 columns holding ns durations
    name : what the table is (shown in ``repr``)

    Example
    -------
    >>> t = Table({"ts": np.array([0, 1_000_000_000]), "side": np.array([0, 1], dtype=np.int8)},
    ...           categories={"side": ["buy", "sell"]}, timestamps=["ts"], name="trades")
    >>> t["side"].tolist()
    ['buy', 'sell']
    """

    def __init__(
        self,
        columns: Mapping[str, Any],
        *,
        categories: Mapping[str, Sequence[str]] | None = None,
        timestamps: Iterable[str] = (),
        durations: Iterable[str] = (),
        name: str = "table",
    ) -> None:
        self._columns: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in columns.items()}
        lengths = {len(v) for v in self._columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"{name}: columns differ in length: {sorted(lengths)}")
        self._len = lengths.pop() if lengths else 0
        self._categories = {k: list(v) for k, v in (categories or {}).items()}
        self._timestamps = set(timestamps)
        self._durations = set(durations)
        self._decoded: dict[str, np.ndarray] = {}
        self.name = name
        for k in (*self._categories, *self._timestamps, *self._durations):
            if k not in self._columns:
                raise ValueError(f"{name}: typed column {k!r} is not a column")

    # -- Mapping ---------------------------------------------------------------------------
    def __getitem__(self, key: str) -> np.ndarray:
        if key in self._categories:
            out = self._decoded.get(key)
            if out is None:
                names = np.array([*self._categories[key], ""])  # null codes decode to ""
                codes = self._columns[key]
                # (an int8 code viewed as uint8 is >= 128 when negative: a null while names are few)
                if codes.dtype.itemsize == 1 and (codes.dtype == np.uint8 or len(names) <= 128):
                    # One-byte codes: one lookup in a 256-entry table of names ("" past the last).
                    lut = np.concatenate([names, np.full(257 - len(names), "", dtype=names.dtype)])
                    out = lut[codes.view(np.uint8)]
                else:
                    out = names[self._null_to(key, len(names) - 1)]
                self._decoded[key] = out
            return out
        col = self._columns.get(key)
        if col is None:
            raise KeyError(f"{key!r} is not a column of {self.name}; columns: {list(self._columns)}")
        return col

    def _null_to(self, key: str, fill: int) -> np.ndarray:
        """The codes of a categorical column (as int32) with every null code replaced by
        ``fill``: negative codes, codes past the last name (the core's 255), and codes whose name
        is "" (the core's "no reason")."""
        codes = self._columns[key]
        names = self._categories[key]
        if codes.dtype.itemsize == 1 and codes.dtype.kind in "iu":
            # The core's codes are one byte: one lookup in a 256-entry table does it all (an int8
            # code viewed as uint8 is ≥ 128 when negative, so it lands on a null).
            lut = np.full(256, fill, dtype=np.int32)
            for i, name in enumerate(names[:256]):
                if name != "":
                    lut[i] = i
            return lut[codes.view(np.uint8)]
        wide = codes.astype(np.int64)
        null = (wide < 0) | (wide >= len(names))
        for i, name in enumerate(names):
            if name == "":
                null |= wide == i
        return np.where(null, fill, wide).astype(np.int32)

    def __contains__(self, key: object) -> bool:
        # Mapping's default would index the column (and build a category's strings) to find out.
        return key in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        """Number of rows (not columns): ``len(table)`` is the table's length."""
        return self._len

    @property
    def columns(self) -> list[str]:
        """Column names, in order."""
        return list(self._columns)

    @property
    def num_rows(self) -> int:
        return self._len

    def codes(self, key: str) -> np.ndarray:
        """The integer codes of a categorical column (no strings built)."""
        return self._columns[key]

    def categories(self, key: str) -> list[str]:
        """The names of a categorical column's codes."""
        return list(self._categories[key])

    # -- Arrow -----------------------------------------------------------------------------
    def _arrow_column(self, key: str) -> pa.Array:
        col = self._columns[key]
        if key in self._categories:
            codes = self._null_to(key, -1)
            mask = codes < 0
            indices = pa.array(np.where(mask, 0, codes), mask=mask if mask.any() else None)
            return pa.DictionaryArray.from_arrays(indices, pa.array(self._categories[key], pa.string()))
        if key in self._timestamps:
            return pa.array(col.astype(np.int64), pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
        if key in self._durations:
            return pa.array(col.astype(np.int64), pa.int64()).cast(pa.duration("ns"))
        if col.dtype.kind == "f":
            return pa.array(col)  # NaN stays NaN (a value, not a null), as numpy has it
        return pa.array(col)

    def to_arrow(self) -> pa.Table:
        """A ``pyarrow.Table``: timestamps as ``timestamp[ns, UTC]``, durations as
        ``duration[ns]``, categories as dictionary arrays."""
        return pa.table({k: self._arrow_column(k) for k in self._columns})

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` (categories as ``category`` dtype, timestamps tz-aware UTC)."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        """A ``polars.DataFrame`` (categories as ``Categorical``, timestamps ``Datetime('ns', 'UTC')``).

        Use this (or ``pl.DataFrame(table.to_arrow())``): ``pl.DataFrame(table)`` sees a Mapping and
        builds the frame from the numpy columns, so categories arrive as strings and timestamps
        as int64.
        """
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)  # a Table (not an Array) gives a DataFrame
        return frame

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # pandas builds ``pd.DataFrame(obj)`` from a dict only; for any other mapping it takes
        # the column *names* as the rows, silently. It asks for ``__array__`` first, so refusing
        # here turns that into a clear error.
        raise TypeError(
            f"a liqsim.Table ({self.name}) is not one array: use table.to_pandas() (typed columns), "
            "pd.DataFrame(dict(table)), or table[column] for one column"
        )

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    # -- display ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        cols = ", ".join(self._columns)
        return f"<liqsim.Table {self.name}: {self._len} rows × {len(self._columns)} columns ({cols})>"

    def _repr_html_(self) -> str:
        head = self.to_arrow().slice(0, 20).to_pandas()
        more = f"<p>{self._len} rows</p>" if self._len > 20 else ""
        html: str = head.to_html(index=False)
        return f"<b>{self.name}</b>{html}{more}"
