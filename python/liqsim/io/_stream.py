"""Recorded Binance futures websocket streams: decoding and L2 book replay (both done in the core)."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from .. import _core
from ..errors import LiqsimError
from ..results import Table

PathLike = Union[str, "os.PathLike[str]"]
Paths = Union[PathLike, Sequence[PathLike]]
TimeLike = Union[int, np.integer, np.datetime64, _dt.datetime, str]

_BOOK_SIDES = ["bid", "ask"]
_AGGRESSOR = ["buy", "sell"]


def _paths(path: Paths) -> list[str]:
    items = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not items:
        raise ValueError("path: give at least one file")
    out = []
    for p in items:
        s = os.fspath(p)
        if not os.path.isfile(s):
            raise FileNotFoundError(f"no such file: {s!r}")
        out.append(s)
    return out


def _ns(t: TimeLike, what: str) -> int:
    """A time as int ns since the Unix epoch (UTC). Naive datetimes and strings are taken as UTC."""
    if isinstance(t, (bool, np.bool_)):
        raise TypeError(f"{what}: expected a time, got {t!r}")
    if isinstance(t, (int, np.integer)):
        return int(t)
    value = getattr(t, "value", None)  # pandas.Timestamp: exact ns
    if isinstance(value, (int, np.integer)) and isinstance(t, _dt.datetime):
        return int(value)
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        delta = t - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if isinstance(t, str):
        try:
            t = np.datetime64(t.rstrip("Z"), "ns")
        except ValueError:
            raise ValueError(f"{what}: {t!r} is not an ISO time such as '2024-08-08T23:58:00'") from None
    if isinstance(t, np.datetime64):
        return int(t.astype("datetime64[ns]").astype(np.int64))
    raise TypeError(f"{what}: expected ns since the epoch, a datetime, numpy.datetime64 or ISO string, got {t!r}")


def _seconds_ns(x: float | _dt.timedelta, what: str) -> int:
    seconds = x.total_seconds() if isinstance(x, _dt.timedelta) else float(x)
    if not (np.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{what}: must be a duration ≥ 0 s, got {x!r}")
    return int(round(seconds * 1e9))


def _band_label(fraction: float) -> str:
    return f"{fraction * 100:g}pct"


def read_binance_stream(path: Paths) -> dict[str, Table]:
    """Decode a recorded Binance futures stream file (or several, in order) without replaying it.

    Each line is ``<local receive time, ns> <JSON message>`` (gzip), as in ``shared/data/binance-l2``.
    Decoding (gunzip and JSON) runs in the Rust core with the GIL released.

    Returns a dict of :class:`liqsim.Table`:

    - ``depth``: one row per level of each ``depthUpdate``: ``ts`` (receive time), ``event_time``,
      ``first_update_id`` (U), ``update_id`` (u), ``prev_update_id`` (pu, −1 if absent), ``side``
      (bid/ask), ``price``, ``qty`` (absolute level quantity; 0 removes the level);
    - ``snapshots``: one row per level of each REST snapshot, with its ``last_update_id``;
    - ``book_ticker``: ``ts``, ``event_time``, ``update_id``, ``bid``, ``bid_qty``, ``ask``, ``ask_qty``;
    - ``trades``: ``ts``, ``trade_time``, ``trade_id``, ``price``, ``qty``, ``side`` (aggressor).

    Prices in quote currency; quantities in the venue's units (base currency, or contracts for
    COIN-M). Times are ``timestamp[ns, UTC]`` in Arrow.

    Example
    -------
    >>> tables = liqsim.io.read_binance_stream("btcusdt_20240718.gz")   # doctest: +SKIP
    >>> tables["trades"].to_pandas().head()                             # doctest: +SKIP
    """
    raw = _core.read_binance_stream(_paths(path))
    for name in ("depth", "book_ticker"):
        raw[name]["event_time"] = raw[name]["event_time"] * 1_000_000
    raw["trades"]["trade_time"] = raw["trades"]["trade_time"] * 1_000_000
    return {
        "depth": Table(raw["depth"], categories={"side": _BOOK_SIDES}, timestamps=["ts", "event_time"], name="depth"),
        "snapshots": Table(raw["snapshots"], categories={"side": _BOOK_SIDES}, timestamps=["ts"], name="snapshots"),
        "book_ticker": Table(raw["book_ticker"], timestamps=["ts", "event_time"], name="book_ticker"),
        "trades": Table(raw["trades"], categories={"side": _AGGRESSOR}, timestamps=["ts", "trade_time"], name="trades"),
    }


class L2Replay:
    """The result of :func:`replay_l2`: the rebuilt book's series, trades, gaps and checks.

    Attributes
    ----------
    top : Table
        Best bid/ask (price, qty) each time either changes; NaN rows where the book went out of sync.
    series : Table
        Sampled every ``sample_every``: ``synced``, best bid/ask, ``mid``, and per depth band
        ``bid_qty_1pct``, ``bid_notional_1pct``, ``ask_qty_1pct``, ``ask_notional_1pct`` (quantity
        in the venue's units, notional in quote currency) within that fraction of mid.
    trades : Table
        Trades as recorded: ``ts``, ``trade_time``, ``trade_id``, ``price``, ``qty``, ``notional``
        (quote currency), ``side`` (aggressor).
    gaps : Table
        Breaks of the update-id chain: receive time, file, line, ``kind``, the id the rules
        required (``expected_id``), the diff's ids, and when the book resynced (if it did).
    files : Table
        Per input file: message counts, ``aligned`` / ``matched`` bookTickers and ``match_rate``
        (best bid/ask price and quantity agreement where ids align), and whether the book was in
        sync in that file (``synced``, ``first_synced_ts``).
    mismatches : Table
        The first (up to 100) bookTickers that disagreed with the book; ``mismatch_count`` counts all.
    """

    def __init__(self, raw: dict[str, Any], paths: list[str], options: dict[str, Any]) -> None:
        self._paths = paths
        self._options = options
        self.contract_size: float | None = options["contract_size"]
        self.top = Table(raw["top"], timestamps=["ts"], name="top")
        series = {k: raw["series"][k] for k in ("ts", "synced", "bid", "bid_qty", "ask", "ask_qty")}
        series["mid"] = (series["bid"] + series["ask"]) / 2.0
        for fraction, band in zip(options["depth_fractions"], raw["series"]["depth"]):
            label = _band_label(fraction)
            for key, values in band.items():
                series[f"{key}_{label}"] = values
        self.series = Table(series, timestamps=["ts"], name="series")
        self.trades = Table(raw["trades"], categories={"side": _AGGRESSOR}, timestamps=["ts", "trade_time"], name="trades")
        gaps = dict(raw["gaps"])
        gaps["file"] = gaps["file"].astype(np.int32)
        self.gaps = Table(
            gaps,
            categories={"kind": raw["gap_kind_names"], "file": paths},
            timestamps=["ts", "resynced_ts"],
            name="gaps",
        )
        files = dict(raw["files"])
        with np.errstate(invalid="ignore", divide="ignore"):
            files["match_rate"] = np.where(files["aligned"] > 0, files["matched"] / np.maximum(files["aligned"], 1), np.nan)
        self.files = Table({"path": np.array(paths, dtype=object), **files}, timestamps=["first_synced_ts"], name="files")
        mismatches = dict(raw["mismatches"])
        mismatches["file"] = mismatches["file"].astype(np.int32)
        self.mismatches = Table(mismatches, categories={"file": paths}, timestamps=["ts"], name="mismatches")
        self.mismatch_count: int = raw["mismatch_count"]
        self.first_ts: int | None = raw["first_ts"]
        self.last_ts: int | None = raw["last_ts"]
        self._books = {b["requested_ts"]: b for b in raw["books"]}

    def __repr__(self) -> str:
        aligned = int(self.files["aligned"].sum())
        matched = int(self.files["matched"].sum())
        return (
            f"L2Replay(files={len(self._paths)}, diffs applied={int(self.files['diffs_applied'].sum())}, "
            f"gaps={len(self.gaps)}, bookTicker matched {matched}/{aligned}, trades={len(self.trades)})"
        )

    def book_at(self, ts: TimeLike, levels: int | None = None) -> Table:
        """The rebuilt book after every message received at or before ``ts``.

        Returns a :class:`liqsim.Table` with ``side`` (bid/ask), ``price``, ``qty`` (venue units) and
        ``notional`` (quote currency), best levels first on each side; load it with
        ``Exchange.load_book(book, extra_columns="ignore")`` (``notional``, and ``base_qty`` of a
        COIN-M book, are derived columns the loader does not read).
        Times given to :func:`replay_l2` as ``book_times`` are answered from memory; any other time
        reads the files again up to ``ts``.

        Raises :class:`liqsim.LiqsimError` if the book was not in sync at ``ts`` (before the first
        snapshot-consistent point, or inside a gap) or ``ts`` is after the recording ends.

        Example
        -------
        >>> book = replay.book_at("2024-08-08T23:58:00")             # doctest: +SKIP
        >>> liqsim.Exchange(symbol="BTCUSDT", tick_size=0.1).load_book(book, extra_columns="ignore")  # doctest: +SKIP
        """
        t = _ns(ts, "ts")
        b = self._books.get(t)
        if b is None:
            raw = _core.replay_l2(
                self._paths, self.contract_size, 0, [], [t], 0 if levels is None else int(levels), t, False
            )
            b = raw["books"][0]
        if b["after_end"]:
            raise LiqsimError(f"book_at: {np.datetime64(t, 'ns')} is after the end of the recording")
        if not b["synced"]:
            raise LiqsimError(
                f"book_at: the book was not in sync at {np.datetime64(t, 'ns')} "
                "(before the first snapshot-consistent point, or inside a gap; see .gaps and .files)"
            )
        n_bid = len(b["bid_price"]) if levels is None else min(levels, len(b["bid_price"]))
        n_ask = len(b["ask_price"]) if levels is None else min(levels, len(b["ask_price"]))
        price = np.concatenate([b["bid_price"][:n_bid], b["ask_price"][:n_ask]])
        qty = np.concatenate([b["bid_qty"][:n_bid], b["ask_qty"][:n_ask]])
        columns: dict[str, np.ndarray] = {
            "side": np.concatenate([np.zeros(n_bid, np.int8), np.ones(n_ask, np.int8)]),
            "price": price,
            "qty": qty,
        }
        if self.contract_size is None:
            columns["notional"] = price * qty
        else:
            columns["notional"] = qty * self.contract_size
            columns["base_qty"] = qty * self.contract_size / price
        return Table(columns, categories={"side": _BOOK_SIDES}, name="book")

    def summary(self) -> dict[str, Any]:
        """Totals over all files: messages, diffs applied, gaps, bookTicker agreement."""
        aligned = int(self.files["aligned"].sum())
        matched = int(self.files["matched"].sum())
        return {
            "files": len(self._paths),
            "lines": int(self.files["lines"].sum()),
            "diffs_applied": int(self.files["diffs_applied"].sum()),
            "level_updates": int(self.files["level_updates"].sum()),
            "gaps": len(self.gaps),
            "book_tickers": int(self.files["book_tickers"].sum()),
            "aligned": aligned,
            "matched": matched,
            "match_rate": matched / aligned if aligned else float("nan"),
            "trades": len(self.trades),
            "synced": bool(self.files["synced"].any()),
        }


def book_grid(book: Any) -> tuple[float, float]:
    """The tick and lot sizes a book's prices and quantities sit on: the largest steps (multiples
    of 1e-8) that divide every price and every quantity exactly. With a real book of a few thousand
    levels these are the venue's steps (in principle they are multiples of them).

    Example
    -------
    >>> tick, lot = liqsim.io.book_grid(replay.book_at(t))             # doctest: +SKIP
    >>> liqsim.Exchange(symbol="BTCUSDT", tick_size=tick, lot_size=lot)  # doctest: +SKIP
    """
    steps = []
    for column in ("price", "qty"):
        units = np.round(np.asarray(book[column], dtype=np.float64) * 1e8)
        values = units[units > 0].astype(np.int64)
        if len(values) == 0:
            raise ValueError(f"book_grid: the book has no positive {column}")
        steps.append(float(np.gcd.reduce(values)) / 1e8)
    return steps[0], steps[1]


def replay_l2(
    path: Paths,
    *,
    contract_size: float | None = None,
    sample_every: float | _dt.timedelta = 1.0,
    depth: Sequence[float] = (0.01,),
    book_times: Sequence[TimeLike] = (),
    book_levels: int | None = None,
    top_of_book: bool = True,
) -> L2Replay:
    """Rebuild the L2 book of a recorded Binance futures stream with Binance's sync rules.

    ``path`` is one file or a list of files read as one stream (a recording split across files
    keeps its update-id chain, so a file without its own snapshot continues the previous file's
    book). The rules: start from a REST snapshot (diffs received before it are buffered), drop diffs
    older than its ``lastUpdateId``, the first diff must straddle it, then each diff's ``pu`` must be
    the previous diff's ``u``. A break is reported in ``.gaps`` with its ids; the book is then out of
    sync (no values reported) until the next snapshot. A file that never reaches a
    snapshot-consistent point is reported as such (``.files["synced"]`` is False).

    Every ``bookTicker`` whose update id aligns with the rebuilt book (between two diffs) is
    compared with it on best bid/ask price and quantity: ``.files["match_rate"]``.

    One symbol per replay: a recording whose streams name several symbols raises
    :class:`liqsim.ScenarioError` (its diffs would blend, and REST snapshots do not say whose they
    are); so does a malformed line (naming the file and line).

    Reading is streaming and in the core: the gzip is inflated on a second thread while the calling
    thread decodes and replays (one thread when ``RAYON_NUM_THREADS=1``; the outputs are identical),
    in a few MB of working memory whatever the recording's length (the outputs grow with it).

    Parameters
    ----------
    path : file or list of files (gzip, ``<ns> <JSON>`` lines)
    contract_size : None for linear (USDⓈ-M, quantities in base currency); for COIN-M, the quote
        value of one contract (BTCUSD_PERP: 100 USD; quantities are then contracts).
    sample_every : seconds (or timedelta) between rows of ``.series``; 0 for none.
    depth : bands of the depth columns of ``.series``, as fractions of mid (0.01 = 1%).
    book_times : times at which to keep the whole book for :meth:`L2Replay.book_at` (others are
        recomputed on demand). Ints are ns since the epoch; datetimes and strings are UTC.
    book_levels : levels per side kept in those books (None: all).
    top_of_book : record ``.top`` (a row whenever the best bid or ask changes).

    Example
    -------
    >>> r = liqsim.io.replay_l2(["btcusdt_20240718.gz", "btcusdt_20240719.gz"])  # doctest: +SKIP
    >>> r.files["match_rate"], len(r.gaps)                                    # doctest: +SKIP
    """
    paths = _paths(path)
    if contract_size is not None and not (np.isfinite(contract_size) and contract_size > 0):
        raise ValueError(f"contract_size: must be > 0 (quote currency per contract), got {contract_size!r}")
    fractions = [float(f) for f in depth]
    for f in fractions:
        if not (np.isfinite(f) and 0 <= f < 1):
            raise ValueError(f"depth: each band must be a fraction of mid in [0, 1), got {f!r}")
    times = sorted(_ns(t, "book_times") for t in book_times)
    if book_levels is not None and book_levels < 0:
        raise ValueError(f"book_levels: must be ≥ 0, got {book_levels!r}")
    size = None if contract_size is None else float(contract_size)
    every_ns = _seconds_ns(sample_every, "sample_every")
    levels = 0 if book_levels is None else int(book_levels)
    options = {
        "contract_size": size,
        "sample_every_ns": every_ns,
        "depth_fractions": fractions,
        "book_times": times,
        "book_levels": levels,
    }
    raw = _core.replay_l2(paths, size, every_ns, fractions, times, levels, None, bool(top_of_book))
    return L2Replay(raw, paths, options)
