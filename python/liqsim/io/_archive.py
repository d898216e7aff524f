"""Readers of Binance's public archive CSV files (data.binance.vision, USDⓈ-M and COIN-M futures)
into :class:`liqsim.Table` s. pyarrow's CSV reader does the parsing; a malformed row raises
:class:`liqsim.ScenarioError` naming the file, the line (1-based, header included) and the column.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import ScenarioError
from ..results import Table
from ._stream import PathLike, TimeLike, _ns

# Column layouts of the archive files when they come without a header (older files).
TRADES_COLUMNS = ["id", "price", "qty", "quote_qty", "time", "is_buyer_maker"]
AGG_TRADES_COLUMNS = ["agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id", "transact_time", "is_buyer_maker"]
KLINE_COLUMNS = [
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
    "taker_buy_volume", "taker_buy_quote_volume", "ignore",
]
BOOK_DEPTH_COLUMNS = ["timestamp", "percentage", "depth", "notional"]
FUNDING_COLUMNS = ["calc_time", "funding_interval_hours", "last_funding_rate"]
METRICS_COLUMNS = [
    "create_time", "symbol", "sum_open_interest", "sum_open_interest_value", "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio", "count_long_short_ratio", "sum_taker_long_short_vol_ratio",
]

_FLOAT, _INT, _BOOL, _TIME, _STR = "float", "int", "bool", "time", "str"
_ARROW = {_FLOAT: pa.float64(), _INT: pa.int64(), _BOOL: pa.bool_(), _STR: pa.string()}


def _error(path: str, line: int | None, column: str | None, message: str, row: int | None = None) -> ScenarioError:
    where = path if line is None else f"{path}, line {line}"
    if column is not None:
        where += f", column '{column}'"
    err = ScenarioError(f"{where}: {message}")
    err.table, err.column, err.row = path, column, row
    err.line = line  # type: ignore[attr-defined]
    return err


def _first_line(path: str) -> str:
    import gzip
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            with z.open(z.namelist()[0]) as f:
                return str(f.readline().decode("utf-8", "replace"))
    opener: Any = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return str(f.readline().decode("utf-8", "replace"))


def _source(path: str) -> Any:
    """What pyarrow reads: the path, or the CSV inside a data.binance.vision zip."""
    import zipfile

    if zipfile.is_zipfile(path):
        z = zipfile.ZipFile(path)
        return z.open(z.namelist()[0])
    return path


def _header(path: str) -> list[str] | None:
    """The header's column names, or None when the first field is a number (no header)."""
    first = _first_line(path).strip().split(",")
    try:
        float(first[0])
        return None
    except ValueError:
        return [c.strip() for c in first]


def _read(path: PathLike, kinds: dict[str, str], default_names: list[str]) -> tuple[dict[str, Any], str]:
    """Read a CSV into arrays, converting the columns of ``kinds``; errors name file, line, column.

    Time columns (``_TIME``) are integers in ms/µs/ns since the epoch or ``YYYY-MM-DD[ HH:MM:SS]``
    strings; they come back as int64 ns.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"no such file: {p!r}")
    header = _header(p)
    names = header if header is not None else default_names
    skip = 1 if header is not None else 0
    missing = [c for c in kinds if c not in names]
    if missing:
        raise _error(p, 1, missing[0], f"required column is missing (columns: {names})")
    bad_row: list[Any] = []

    def on_invalid(row: Any) -> str:
        bad_row.append(row)
        return "error"

    read_options = pacsv.ReadOptions(column_names=names, skip_rows=skip)
    parse_options = pacsv.ParseOptions(invalid_row_handler=on_invalid)
    # Read everything as text first, then convert column by column: the conversion error can then
    # name the line, which pyarrow's typed reader does not.
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False)
    try:
        table = pacsv.read_csv(_source(p), read_options=read_options, parse_options=parse_options, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if bad_row:
            r = bad_row[0]
            line = (r.number + skip) if r.number is not None and r.number >= 0 else _line_of(p, r.text)
            raise _error(p, line, None, f"expected {r.expected_columns} fields, got {r.actual_columns}: {r.text!r}") from None
        raise _error(p, None, None, f"not a readable CSV file: {exc}") from None
    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        out[name] = _convert(table.column(name).combine_chunks(), kind, p, name, skip)
    return out, p


def _line_of(path: str, text: str) -> int | None:
    """1-based line of the first line equal to ``text`` (the error path, when pyarrow gives no row
    number)."""
    source = _source(path)
    stream = source if hasattr(source, "read") else open(source, "rb")
    with stream:
        for i, raw in enumerate(stream, start=1):
            if raw.decode("utf-8", "replace").rstrip("\r\n") == text:
                return i
    return None


def _convert(text: pa.Array, kind: str, path: str, column: str, skip: int) -> np.ndarray:
    if kind == _STR:
        return np.asarray(text.to_pylist(), dtype=object)
    stripped = pc.utf8_trim_whitespace(text)
    if kind == _BOOL:
        lowered = pc.utf8_lower(stripped)
        is_true = np.asarray(pc.is_in(lowered, pa.array(["true", "1"])))
        is_false = np.asarray(pc.is_in(lowered, pa.array(["false", "0"])))
        bad = np.flatnonzero(~(is_true | is_false))
        if len(bad):
            i = int(bad[0])
            raise _error(path, i + 1 + skip, column, f"{text[i].as_py()!r} is not true/false", row=i)
        return is_true
    if kind == _TIME:
        return _times(stripped, path, column, skip)
    try:
        values = pc.cast(stripped, _ARROW[kind])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        i = _first_bad(stripped, _ARROW[kind])
        raise _error(path, i + 1 + skip, column, f"{text[i].as_py()!r} is not {'an integer' if kind == _INT else 'a number'}", row=i) from None
    arr = values.to_numpy(zero_copy_only=False)
    if kind == _FLOAT:
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            i = int(bad[0])
            raise _error(path, i + 1 + skip, column, f"{text[i].as_py()!r} is not a finite number", row=i)
    return np.asarray(arr)


def _first_bad(text: pa.Array, target: pa.DataType) -> int:
    """Index of the first value that does not convert (the error path only: a binary search over
    chunk halves keeps it O(n log n) without a Python loop over rows)."""
    lo, hi = 0, len(text)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(text.slice(lo, mid - lo), target)
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    return lo


def _times(text: pa.Array, path: str, column: str, skip: int) -> np.ndarray:
    """int64 ns since the epoch from integer epoch times (unit guessed from the first row's
    magnitude: s, ms, µs or ns) or from date / datetime strings (UTC)."""
    if len(text) == 0:
        return np.zeros(0, np.int64)
    first = text[0].as_py()
    if first.lstrip("-").isdigit():
        try:
            values = pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            i = _first_bad(text, pa.int64())
            raise _error(path, i + 1 + skip, column, f"{text[i].as_py()!r} is not an epoch time", row=i) from None
        magnitude = abs(int(values[0]))  # the file's unit, from its first row
        scale = 1 if magnitude >= 10**17 else 1_000 if magnitude >= 10**14 else 1_000_000 if magnitude >= 10**11 else 1_000_000_000
        too_big = np.flatnonzero(np.abs(values) > np.iinfo(np.int64).max // scale)
        if len(too_big):
            i = int(too_big[0])
            raise _error(path, i + 1 + skip, column, f"{text[i].as_py()!r} is out of range as a time", row=i)
        return np.asarray(values * scale)
    try:
        stamps = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="ns", error_is_null=True)
        if stamps.null_count == len(text):
            stamps = pc.strptime(text, format="%Y-%m-%d", unit="ns", error_is_null=True)
    except pa.ArrowInvalid:
        stamps = pa.nulls(len(text), pa.timestamp("ns"))
    if stamps.null_count:
        i = int(np.flatnonzero(~np.asarray(stamps.is_valid()))[0])
        raise _error(path, i + 1 + skip, column, f"{text[i].as_py()!r} is not a time (YYYY-MM-DD HH:MM:SS)", row=i)
    return np.asarray(stamps.cast(pa.int64()).to_numpy(zero_copy_only=False))


def read_binance_trades(path: PathLike) -> Table:
    """Read a Binance futures ``trades`` or ``aggTrades`` archive CSV (with or without header;
    ``.csv`` or the ``.zip`` as downloaded).

    Returns a :class:`liqsim.Table`: ``ts`` (trade time), ``trade_id`` (aggregate id for
    aggTrades), ``price``, ``qty`` (venue units: base currency, or contracts on COIN-M),
    ``side`` (aggressor: ``sell`` when the buyer was the maker), and ``quote_qty`` (trades) or
    ``first_trade_id`` / ``last_trade_id`` (aggTrades).

    Example
    -------
    >>> trades = liqsim.io.read_binance_trades("BTCUSDT-aggTrades-2025-10-10.zip")  # doctest: +SKIP
    """
    p = os.fspath(path)
    header = _header(p) if os.path.isfile(p) else None
    first = _first_line(p).strip().split(",") if os.path.isfile(p) else []
    aggregate = (header is not None and "agg_trade_id" in header) or (header is None and len(first) == 7)
    if aggregate:
        kinds = {"agg_trade_id": _INT, "price": _FLOAT, "quantity": _FLOAT, "first_trade_id": _INT,
                 "last_trade_id": _INT, "transact_time": _TIME, "is_buyer_maker": _BOOL}
        c, _ = _read(p, kinds, AGG_TRADES_COLUMNS)
        columns = {"ts": c["transact_time"], "trade_id": c["agg_trade_id"], "price": c["price"], "qty": c["quantity"],
                   "side": c["is_buyer_maker"].astype(np.int8), "first_trade_id": c["first_trade_id"],
                   "last_trade_id": c["last_trade_id"]}
    else:
        kinds = {"id": _INT, "price": _FLOAT, "qty": _FLOAT, "quote_qty": _FLOAT, "time": _TIME, "is_buyer_maker": _BOOL}
        c, _ = _read(p, kinds, TRADES_COLUMNS)
        columns = {"ts": c["time"], "trade_id": c["id"], "price": c["price"], "qty": c["qty"],
                   "side": c["is_buyer_maker"].astype(np.int8), "quote_qty": c["quote_qty"]}
    return Table(columns, categories={"side": ["buy", "sell"]}, timestamps=["ts"], name="trades")


def read_binance_book_depth(
    path: PathLike,
    *,
    drop_side: str | None = None,
    subtract_level: tuple[float, float, TimeLike] | None = None,
) -> Table:
    """Read a Binance ``bookDepth`` archive CSV: cumulative depth within ±1…5% of mid, one snapshot
    about every 30 s.

    Returns a :class:`liqsim.Table` in the file's long form: ``ts``, ``percentage`` (−5…−1 bid
    side, 1…5 ask side), ``side`` (bid/ask), ``depth`` (base currency), ``notional`` (quote
    currency), and ``weighted_avg_price`` when the file has it.

    Stale levels: a venue snapshot can carry a bid (or ask) that is no longer real. In the shared
    2025-10-10 BTCUSDT file a 17.654 BTC bid near 121,363 sits in every bid band from 15:30:42 on,
    and Binance anchored the bid bands to it, so those bands no longer measure the live book.

    Parameters
    ----------
    drop_side : ``"bid"`` or ``"ask"`` to leave that side's rows out (for the 2025-10-10 file:
        ``drop_side="bid"``; the ask side is clean).
    subtract_level : ``(price, qty, since)``: remove one known stale level from every band of its
        side at or after ``since`` (bid side for price below the ask bands, i.e. the side is taken
        from the rows it is subtracted from: negative percentages for a bid). ``qty`` in base
        currency, ``price`` in quote currency per unit; its notional is ``price × qty``. A band left
        with less than nothing means the level was not in it: an error, not a clipped value.

    Example
    -------
    >>> bands = liqsim.io.read_binance_book_depth("BTCUSDT-bookDepth-2025-10-10.csv", drop_side="bid")  # doctest: +SKIP
    """
    p = os.fspath(path)
    header = _header(p) if os.path.isfile(p) else None
    kinds = {"timestamp": _TIME, "percentage": _FLOAT, "depth": _FLOAT, "notional": _FLOAT}
    has_wavg = header is not None and "weighted_avg_price" in header
    if has_wavg:
        kinds["weighted_avg_price"] = _FLOAT
    c, p = _read(p, kinds, BOOK_DEPTH_COLUMNS)
    pct = c["percentage"]
    side = (pct > 0).astype(np.int8)  # 0 bid (negative %), 1 ask
    depth, notional = c["depth"].copy(), c["notional"].copy()
    if subtract_level is not None:
        price, qty, since = subtract_level
        if not (np.isfinite(price) and price > 0 and np.isfinite(qty) and qty > 0):
            raise ValueError(f"subtract_level: price and qty must be > 0, got {subtract_level!r}")
        since_ns = _ns(since, "subtract_level since")
        hit = (c["timestamp"] >= since_ns) & (side == 0)
        depth[hit] -= qty
        notional[hit] -= price * qty
        tolerance = 1e-9 * np.maximum(np.abs(c["depth"]), 1.0)
        below = np.flatnonzero(hit & (depth < -tolerance))
        if len(below):
            i = int(below[0])
            line = i + 1 + (1 if header is not None else 0)
            raise _error(p, line, "depth", f"the level of {qty} at {price} is larger than the band's depth {c['depth'][i]}", row=i)
        depth[hit] = np.maximum(depth[hit], 0.0)
        notional[hit] = np.maximum(notional[hit], 0.0)
    columns: dict[str, np.ndarray] = {"ts": c["timestamp"], "percentage": pct, "side": side, "depth": depth, "notional": notional}
    if has_wavg:
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["weighted_avg_price"] = np.where(depth > 0, notional / np.where(depth > 0, depth, 1.0), np.nan) if subtract_level is not None else c["weighted_avg_price"]
    keep = None
    if drop_side is not None:
        if drop_side not in ("bid", "ask"):
            raise ValueError(f"drop_side: must be 'bid', 'ask' or None, got {drop_side!r}")
        keep = side != (0 if drop_side == "bid" else 1)
        columns = {k: v[keep] for k, v in columns.items()}
    return Table(columns, categories={"side": ["bid", "ask"]}, timestamps=["ts"], name="book_depth")


def read_binance_funding(path: PathLike) -> Table:
    """Read funding rates: Binance's ``fundingRate`` archive CSV (``calc_time``,
    ``funding_interval_hours``, ``last_funding_rate``) or a daily summary with ``date``,
    ``funding_mean``, ``funding_abs`` (as in ``shared/data/binance-funding``).

    Returns a :class:`liqsim.Table`: ``ts`` and ``funding_rate`` (a fraction per interval, e.g.
    0.0001 = 0.01%) plus ``funding_interval_hours``; or for the daily file ``ts`` (the day, 00:00
    UTC), ``funding_mean`` and ``funding_abs``.

    Example
    -------
    >>> funding = liqsim.io.read_binance_funding("btcusdt_daily_funding.csv")  # doctest: +SKIP
    """
    p = os.fspath(path)
    header = _header(p) if os.path.isfile(p) else None
    if header is not None and "date" in header:
        c, _ = _read(p, {"date": _TIME, "funding_mean": _FLOAT, "funding_abs": _FLOAT}, header)
        return Table({"ts": c["date"], "funding_mean": c["funding_mean"], "funding_abs": c["funding_abs"]},
                     timestamps=["ts"], name="funding")
    c, _ = _read(p, {"calc_time": _TIME, "funding_interval_hours": _INT, "last_funding_rate": _FLOAT}, FUNDING_COLUMNS)
    return Table({"ts": c["calc_time"], "funding_rate": c["last_funding_rate"],
                  "funding_interval_hours": c["funding_interval_hours"]}, timestamps=["ts"], name="funding")


def read_binance_klines(path: PathLike) -> Table:
    """Read a Binance ``klines`` (or ``markPriceKlines`` / ``indexPriceKlines``) archive CSV.

    Returns a :class:`liqsim.Table`: ``ts`` (open time), ``open``, ``high``, ``low``, ``close``,
    ``volume`` (base, or contracts on COIN-M), ``close_time``, ``quote_volume``, ``trades``,
    ``taker_buy_volume``, ``taker_buy_quote_volume``.

    Example
    -------
    >>> bars = liqsim.io.read_binance_klines("BTCUSDT-1m-2025-10-10.zip")  # doctest: +SKIP
    """
    kinds = {"open_time": _TIME, "open": _FLOAT, "high": _FLOAT, "low": _FLOAT, "close": _FLOAT, "volume": _FLOAT,
             "close_time": _TIME, "quote_volume": _FLOAT, "count": _INT, "taker_buy_volume": _FLOAT,
             "taker_buy_quote_volume": _FLOAT}
    c, _ = _read(path, kinds, KLINE_COLUMNS)
    columns = {"ts": c.pop("open_time"), **{k: v for k, v in c.items() if k != "count"}, "trades": c["count"]}
    return Table(columns, timestamps=["ts", "close_time"], name="klines")


def read_binance_metrics(path: PathLike) -> Table:
    """Read a Binance futures ``metrics`` archive CSV (5-minute open interest and long/short ratios).

    Returns a :class:`liqsim.Table`: ``ts``, ``open_interest`` (base currency, or contracts),
    ``open_interest_value`` (quote currency), and the ratio columns present in the file
    (``toptrader_long_short_ratio_count``, ``toptrader_long_short_ratio``,
    ``long_short_ratio_count``, ``taker_long_short_vol_ratio``).

    Example
    -------
    >>> oi = liqsim.io.read_binance_metrics("BTCUSDT-metrics-2025-10-10.zip")  # doctest: +SKIP
    """
    p = os.fspath(path)
    header = _header(p) if os.path.isfile(p) else None
    names = header if header is not None else METRICS_COLUMNS
    kinds = {"create_time": _TIME, "sum_open_interest": _FLOAT, "sum_open_interest_value": _FLOAT}
    renames = {
        "count_toptrader_long_short_ratio": "toptrader_long_short_ratio_count",
        "sum_toptrader_long_short_ratio": "toptrader_long_short_ratio",
        "count_long_short_ratio": "long_short_ratio_count",
        "sum_taker_long_short_vol_ratio": "taker_long_short_vol_ratio",
    }
    for raw in renames:
        if raw in names:
            kinds[raw] = _FLOAT
    c, _ = _read(p, kinds, METRICS_COLUMNS)
    columns = {"ts": c["create_time"], "open_interest": c["sum_open_interest"], "open_interest_value": c["sum_open_interest_value"]}
    columns.update({new: c[raw] for raw, new in renames.items() if raw in c})
    return Table(columns, timestamps=["ts"], name="metrics")


__all__: Sequence[str] = [
    "read_binance_book_depth",
    "read_binance_funding",
    "read_binance_klines",
    "read_binance_metrics",
    "read_binance_trades",
]
