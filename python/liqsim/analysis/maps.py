"""Exact liquidation maps: every known position's liquidation price, summed per price bucket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import _core
from .._tables import as_table, code_column, float_column, scenario_error
from ..errors import ConfigError
from ..results import Table
from ._columns import required_float, required_int

_MARGIN_MODE_CODES = {"cross": 0, "isolated": 1}
_POSITION_SIDE_CODES = {"long": 0, "short": 1, "flat": 2, "buy": 0, "sell": 1}
_SIGN = np.array([1.0, -1.0, 0.0])

#: Map columns, in order (see :class:`LiquidationMap`).
MAP_COLUMNS = (
    "price_low", "price_high", "price",
    "long_notional", "short_notional", "long_qty", "short_qty", "long_count", "short_count",
    "cum_long_notional", "cum_short_notional",
)


class LiquidationMap(Table):
    """A liquidation map: one row per price bucket ``[price_low, price_high)``.

    Columns (notional in quote currency, valued at the liquidation price; qty in base units):

    - ``price_low``, ``price_high``, ``price`` (bucket centre)
    - ``long_notional``, ``short_notional``: liquidated if the mark reaches the bucket
    - ``long_qty``, ``short_qty``, ``long_count``, ``short_count`` (exact maps; the estimate has
      no positions, so there these are NaN / 0)
    - ``cum_long_notional``: longs liquidated if price falls to ``price_low`` (every long whose
      liquidation price is at or above it, including those above the grid)
    - ``cum_short_notional``: shorts liquidated if price rises to ``price_high`` (including those
      below the grid)

    Attributes: ``mark`` (float or None), ``venue``, ``symbol``, and ``outside``: notional whose
    liquidation price is below / above the grid, and of positions with no liquidation price, per
    side (``{"long": {"below": ..., "above": ..., "never": ...}, "short": {...}}``).
    """

    mark: float | None
    venue: str
    symbol: str
    outside: dict[str, dict[str, float]]

    @property
    def edges(self) -> np.ndarray:
        """Bucket edges (len(map) + 1)."""
        return np.append(self["price_low"], self["price_high"][-1:])


def build_map(
    edges: np.ndarray,
    long_notional: np.ndarray,
    short_notional: np.ndarray,
    *,
    long_qty: np.ndarray | None = None,
    short_qty: np.ndarray | None = None,
    long_count: np.ndarray | None = None,
    short_count: np.ndarray | None = None,
    outside: Mapping[str, Mapping[str, float]] | None = None,
    mark: float | None = None,
    venue: str = "",
    symbol: str = "",
    name: str = "liquidation_map",
) -> LiquidationMap:
    """A :class:`LiquidationMap` from per-bucket sums (shared by the exact map and the estimate)."""
    n = len(edges) - 1
    nan = np.full(n, np.nan)
    zero = np.zeros(n, dtype=np.uint64)
    out = {k: dict(v) for k, v in (outside or {}).items()}
    for side in ("long", "short"):
        out.setdefault(side, {})
        for k in ("below", "above", "never"):
            out[side].setdefault(k, 0.0)
    cum_long = np.cumsum(long_notional[::-1])[::-1] + out["long"]["above"]
    cum_short = np.cumsum(short_notional) + out["short"]["below"]
    columns = {
        "price_low": edges[:-1].copy(),
        "price_high": edges[1:].copy(),
        "price": (edges[:-1] + edges[1:]) / 2,
        "long_notional": long_notional,
        "short_notional": short_notional,
        "long_qty": nan if long_qty is None else long_qty,
        "short_qty": nan if short_qty is None else short_qty,
        "long_count": zero if long_count is None else long_count,
        "short_count": zero if short_count is None else short_count,
        "cum_long_notional": cum_long,
        "cum_short_notional": cum_short,
    }
    m = LiquidationMap(columns, name=name)
    m.mark, m.venue, m.symbol, m.outside = mark, venue, symbol, out
    return m


def grid_edges(price_grid: object, lo: float, hi: float, default_buckets: int = 200) -> np.ndarray:
    """Bucket edges from ``price_grid``: an array of edges, a number of buckets over ``[lo, hi]``,
    or None (``default_buckets`` over ``[lo, hi]``)."""
    if price_grid is None or isinstance(price_grid, (int, np.integer)):
        buckets = default_buckets if price_grid is None else int(price_grid)
        if buckets < 1:
            raise ValueError(f"price_grid: need at least 1 bucket, got {buckets}")
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            lo, hi = (lo - 1.0, lo + 1.0) if np.isfinite(lo) else (0.0, 1.0)
        return np.linspace(lo, hi, buckets + 1)
    edges = np.asarray(price_grid, dtype=np.float64).ravel()
    if len(edges) < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError("price_grid: edges must be at least 2 finite, strictly increasing prices")
    return edges


def _tier_columns(tiers: object | None) -> tuple[list[float], list[float], list[float], list[int]] | None:
    if tiers is None:
        return None
    t = as_table(tiers, "tiers")
    return (
        required_float(t, "tiers", "floor").tolist(),
        required_float(t, "tiers", "cap").tolist(),
        required_float(t, "tiers", "mmr").tolist(),
        required_int(t, "tiers", "max_leverage").tolist(),
    )


def _positions(accounts: object, symbol: str) -> dict[str, Any]:
    """Signed sizes and the columns the venue formula needs, from an accounts table."""
    table = "accounts"
    t = as_table(accounts, table)
    n = t.num_rows
    keep = None
    mode = code_column(t, table, "margin_mode", _MARGIN_MODE_CODES, default=0)
    cross = np.ones(n, bool) if mode is None else mode == 0
    # Cross rows of traders with cross rows in other symbols too: one account across markets
    # (as MultiExchange.load_accounts takes them), whose other legs move this leg's trigger.
    multi = np.zeros(n, bool)
    legs = np.zeros(0, np.int64)
    if "symbol" in t.column_names:
        sym = np.asarray(t.column("symbol").to_numpy(zero_copy_only=False)).astype(str)
        keep = (sym == symbol) | (sym == "None") | (sym == "")
        if "trader_id" in t.column_names:
            ids = required_int(t, table, "trader_id")
            multi = keep & cross & np.isin(ids, ids[~keep & cross])
            legs = np.flatnonzero(cross & np.isin(ids, ids[multi]))
    qty = required_float(t, table, "qty")
    side = code_column(t, table, "side", _POSITION_SIDE_CODES)
    if side is None:
        size = qty.copy()
    else:
        missing = side == 255
        if missing.any():
            bad = np.flatnonzero(missing & (qty != 0) & ~np.isnan(qty))
            if len(bad):
                raise scenario_error(table, "side", int(bad[0]), "missing side for a non-zero qty")
            side = np.where(missing, 2, side)
        neg = np.flatnonzero(qty < 0)
        if len(neg):
            raise scenario_error(table, "qty", int(neg[0]), "must be ≥ 0 when a side column gives the direction")
        size = _SIGN[side] * qty
    # A flat row may leave qty empty (NaN); any other row may not.
    nan_rows = np.isnan(size)
    if nan_rows.any():
        flat = np.zeros(n, bool) if side is None else side == 2
        bad = np.flatnonzero(nan_rows & ~flat)
        if len(bad):
            raise scenario_error(table, "qty", int(bad[0]), "missing value")
        size = np.where(nan_rows, 0.0, size)
    entry = float_column(t, table, "entry_price")
    leverage = float_column(t, table, "leverage")
    cols = {
        "size": size,
        "entry_price": np.full(n, np.nan) if entry is None else entry,
        "balance": required_float(t, table, "balance"),
        "isolated": np.zeros(n, bool) if mode is None else mode == 1,
        # Leverage only sizes a default isolated margin; 10 when absent, as Exchange.load_accounts.
        "leverage": np.full(n, 10.0) if leverage is None else np.where(np.isnan(leverage), 10.0, leverage),
        "isolated_margin": float_column(t, table, "isolated_margin"),
        "multi": multi,
        "trader_id": required_int(t, table, "trader_id") if multi.any() else np.zeros(n, np.int64),
    }
    if keep is not None:
        cols = {k: (v[keep] if v is not None else None) for k, v in cols.items()}
        # Rows of other symbols are not this map's; a flat size skips them in the core.
    out = {k: (np.ascontiguousarray(v) if v is not None else None) for k, v in cols.items()}
    out["legs"] = legs  # rows of `t` to load into a venue (every cross row of those traders)
    return out


def _venue_legs(t: Any, legs: np.ndarray, symbol: str, venue: str,
                tiers: object | None) -> tuple[np.ndarray, np.ndarray]:
    """Trigger price on ``symbol`` of each trader whose cross rows ``legs`` (rows of accounts
    table ``t``) span several symbols, as (trader ids, trigger prices): the rows loaded into a
    :class:`liqsim.MultiExchange` of their symbols (each market ``Exchange(venue, symbol)``, the
    ``tiers`` on ``symbol``'s), read with the venue-map path (``triggers_at_marks``). No market has
    a mark, so nothing is liquidated on loading and each other leg counts at its entry price
    (unrealised PnL 0, maintenance margin on its entry notional)."""
    from ..exchange import ACCOUNT_COLUMNS, Exchange  # here: the analysis package loads before these
    from ..errors import ScenarioError
    from ..multi import MultiExchange

    table = "accounts"
    sub = t.take(legs).select([c for c in t.column_names if c in ("symbol", *ACCOUNT_COLUMNS)])
    given = np.asarray(sub.column("symbol").to_numpy(zero_copy_only=False)).astype(str)
    blank = np.flatnonzero((given == "None") | (given == ""))
    if len(blank):
        raise scenario_error(table, "symbol", int(legs[blank[0]]),
                             "missing symbol on a row of a trader with rows in several symbols")
    found, first = np.unique(given, return_index=True)
    names = [str(name) for name in found[np.argsort(first)]]  # in order of first appearance
    try:
        markets = {name: Exchange(venue, name, tiers=tiers if name == symbol else None)  # type: ignore[arg-type]
                   for name in names}
        v = MultiExchange(markets)
        v.load_accounts(sub)
    except ScenarioError as err:
        if err.row is None or err.table != table:
            raise
        # The venue names the row of the legs it was given; the caller's table is `t`.
        where = f"table '{table}', column '{err.column}', row {err.row}: "
        message = str(err)[len(where):] if str(err).startswith(where) else str(err)
        raise scenario_error(table, err.column, int(legs[err.row]), message) from None
    ids = np.asarray(v.market(symbol).accounts()["trader_id"])
    return ids, np.asarray(v._v._triggers_at_marks(symbol), dtype=float)


def _liq_prices(t: Any, cols: dict[str, Any], venue: str, symbol: str, tiers: object | None) -> np.ndarray:
    """Liquidation price of each kept row: the venue's formula for a row that is its account's only
    position in a market (or isolated); the venue's own trigger (:func:`_venue_legs`) for a leg
    of a cross account with rows in several symbols."""
    multi = cols["multi"]
    size = np.where(multi, 0.0, cols["size"]) if multi.any() else cols["size"]
    lp = np.asarray(_core.account_liq_prices(
        np.ascontiguousarray(size), cols["entry_price"], cols["balance"], cols["isolated"], cols["leverage"],
        cols["isolated_margin"], venue, symbol, _tier_columns(tiers),
    ))
    if multi.any():
        ids, triggers = _venue_legs(t, cols["legs"], symbol, venue, tiers)
        order = np.argsort(ids, kind="stable")
        lp = lp.copy()
        lp[multi] = triggers[order][np.searchsorted(ids[order], cols["trader_id"][multi])]
    return lp


def liquidation_prices(
    accounts: object, *, venue: str = "binance", symbol: str = "BTCUSDT", tiers: object | None = None
) -> np.ndarray:
    """Liquidation price (quote currency) of every row of an accounts table, NaN where there is
    none (flat, or a position no price move liquidates).

    A cross row is backed by its ``balance`` (the account holds nothing else); an isolated row by
    its ``isolated_margin`` (default ``qty × entry_price / leverage``, as :meth:`Exchange.load_accounts`
    applies). The venue's formula and tiers do the rest (:func:`liqsim.liquidation_price`).
    Rows of other symbols (a ``symbol`` column) are NaN. A cross trader with rows in several
    symbols (``symbol`` and ``trader_id`` columns) is one account across markets, as
    :meth:`liqsim.MultiExchange.load_accounts` loads it: its rows are loaded into a venue of their
    symbols (``Exchange(venue, symbol)`` each, default tick 0.01 and lot 0.001; ``tiers`` on
    ``symbol``) and its row of ``symbol`` gets the venue's trigger price (the whole account's
    ``WB + ΣUPNL ≤ ΣMM``, to the tick), its other legs counted at their entry prices (a table has
    no marks: unrealised PnL 0, maintenance margin on the entry notional).

    >>> rows = {"symbol": ["BTCUSDT", "ETHUSDT"], "trader_id": [1, 1], "balance": [0.0, 2000.0],
    ...         "side": ["long", "short"], "qty": [2.0, 10.0], "entry_price": [50000.0, 3000.0]}
    >>> liquidation_prices(rows, symbol="ETHUSDT").tolist()  # the BTC leg's margin lowers it
    [nan, 3142.44]

    Example
    -------
    >>> liquidation_prices({"balance": [10.0], "side": ["long"], "qty": [1.0], "entry_price": [100.0]},
    ...                    venue="binance", symbol="BTCUSDT").round(4)
    array([90.3614])
    """
    t = as_table(accounts, "accounts")
    cols = _positions(t, symbol)
    lp = _liq_prices(t, cols, venue, symbol, tiers)
    if "symbol" in t.column_names and len(lp) != t.num_rows:
        sym = np.asarray(t.column("symbol").to_numpy(zero_copy_only=False)).astype(str)
        full = np.full(t.num_rows, np.nan)
        full[(sym == symbol) | (sym == "None") | (sym == "")] = lp
        return full
    return np.asarray(lp)


def liquidation_map(
    accounts: object,
    price_grid: object = None,
    *,
    venue: str = "binance",
    symbol: str | None = None,
    mark: float | None = None,
    tiers: object | None = None,
    span: float = 0.2,
    at: object | None = None,
) -> LiquidationMap:
    """Exact liquidation map: notional liquidated per price bucket, longs and shorts.

    Parameters
    ----------
    accounts : table or :class:`liqsim.Exchange`
        An accounts table (columns as :meth:`liqsim.Exchange.load_accounts`: ``balance``,
        ``margin_mode``, ``side``, ``qty``, ``entry_price``, ``leverage``, ``isolated_margin``,
        optionally ``symbol`` and ``trader_id``; a cross trader with rows in several symbols is
        one account across them, its leg at the venue's trigger with its other legs at their
        entry prices: see :func:`liquidation_prices`), or an Exchange: then its accounts, its venue,
        symbol and mark, and the engine's own trigger prices (exact to the tick) are used; the
        insurance fund and background liquidity (ids < 0) are left out. Or a
        :class:`liqsim.SimulationResult`: its market at the end, or with ``at=`` (a time) the
        state it kept at or before then (``simulate(..., keep_states=[...])``). Or a
        :class:`liqsim.MultiExchange` (or the result of a scenario of several markets) with
        ``symbol=`` naming one of its markets: that market's accounts, a cross account's leg at the
        trigger price the core computes for it with the other markets' marks where they are now
        (the whole account's ``WB + ΣUPNL ≤ ΣMM``, exact to the tick; a move of another mark
        moves it).
    price_grid : array of edges, int, or None
        Bucket edges in quote currency (increasing), or a number of buckets; None: 200 buckets
        over ``mark × (1 ± span)`` (without a mark: over the range of the liquidation prices).
    venue, symbol, tiers : the venue formula and tier table (as :func:`liqsim.liquidation_price`;
        ``symbol`` defaults to ``"BTCUSDT"``, and is required for a venue of several markets).
    mark : float, optional
        Current price, kept on the map for clusters, plots and the cascade ratio.

    Returns a :class:`LiquidationMap` (a :class:`liqsim.Table`): per bucket the notional
    ``qty × liquidation price`` (quote currency) by side, sizes, counts and the cumulative curves
    "$X of shorts liquidated if price reaches P".

    Example
    -------
    >>> accts = {"balance": [10.0, 10.0], "side": ["long", "short"], "qty": [1.0, 1.0],
    ...          "entry_price": [100.0, 100.0]}
    >>> m = liquidation_map(accts, [80.0, 90.0, 100.0, 110.0, 120.0], symbol="BTCUSDT")
    >>> m["long_notional"].round(2).tolist(), m["short_notional"].round(2).tolist()
    ([0.0, 90.36, 0.0, 0.0], [0.0, 0.0, 109.56, 0.0])
    """
    from ..multi import MultiExchange  # here: the analysis package loads before the venue's module

    # A SimulationResult (its `exchange` property raises for a venue's result: not probed here).
    if hasattr(accounts, "state_at") and hasattr(accounts, "state_times"):
        result: Any = accounts
        if getattr(result, "venue", None) is not None:
            accounts = result.venue if at is None else result.venue_state_at(at)
        else:
            accounts = result.exchange if at is None else result.state_at(at)
    elif at is not None:
        raise TypeError("liquidation_map: at= needs a SimulationResult (the run's kept states)")
    if isinstance(accounts, MultiExchange):
        if symbol is None:
            err = ConfigError(f"liquidation_map of a venue of several markets: give symbol= (one of {accounts.symbols})")
            err.parameter = "symbol"
            raise err
        one = accounts.market(symbol)  # a ConfigError naming the markets for an unknown symbol
        a = one.accounts()
        people = a["trader_id"] >= 0
        size = np.ascontiguousarray(a["position"][people])
        lp = np.ascontiguousarray(accounts._v._triggers_at_marks(symbol)[people])
        entry = np.ascontiguousarray(a["entry_price"][people])
        venue, symbol = one.venue, one.symbol
        mark = one.mark if mark is None else mark
    elif hasattr(accounts, "accounts") and hasattr(accounts, "mark"):
        ex: Any = accounts
        a = ex.accounts()
        people = a["trader_id"] >= 0
        size = np.ascontiguousarray(a["position"][people])
        lp = np.ascontiguousarray(a["liquidation_price"][people])
        entry = np.ascontiguousarray(a["entry_price"][people])
        venue, symbol = ex.venue, ex.symbol
        mark = ex.mark if mark is None else mark
    else:
        symbol = "BTCUSDT" if symbol is None else symbol
        t = as_table(accounts, "accounts")
        cols = _positions(t, symbol)
        size, entry = cols["size"], cols["entry_price"]
        lp = _liq_prices(t, cols, venue, symbol, tiers)
    if mark is not None:
        lo, hi = mark * (1 - span), mark * (1 + span)
    else:
        finite = lp[np.isfinite(lp)]
        lo, hi = (float(finite.min()), float(np.nextafter(finite.max(), np.inf))) if len(finite) else (np.nan, np.nan)
    edges = grid_edges(price_grid, lo, hi)
    raw = _core.bucket_liquidation_map(edges.tolist(), lp, size, entry)  # NaN entry: valued at 0 if never liquidated
    outside = {s: {k: raw[s][k] for k in ("below", "above", "never")} for s in ("long", "short")}
    return build_map(
        edges, raw["long"]["notional"], raw["short"]["notional"],
        long_qty=raw["long"]["qty"], short_qty=raw["short"]["qty"],
        long_count=raw["long"]["count"], short_count=raw["short"]["count"],
        outside=outside, mark=mark, venue=venue, symbol=symbol,
    )


__all__: Sequence[str] = ["LiquidationMap", "liquidation_map", "liquidation_prices", "build_map"]
