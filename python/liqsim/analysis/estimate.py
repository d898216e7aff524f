"""The liquidation heatmap estimate: what public heatmaps compute when positions are unknown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .. import _core
from .._tables import as_table, float_column, scenario_error, time_column
from ..results import Table
from ._columns import required_float
from .maps import LiquidationMap, _tier_columns, build_map, grid_edges

#: Leverage buckets and their shares of new open interest: the "one common default" of public
#: heatmap estimators (shared/MODELS.md §4).
DEFAULT_LEVERAGE = (5.0, 10.0, 25.0, 50.0, 100.0)
DEFAULT_WEIGHTS = (0.15, 0.30, 0.25, 0.20, 0.10)


class Heatmap:
    """The estimate over time: live liquidation notional per bar × price bucket × side.

    Attributes
    ----------
    ts : int64 array (n_bars,), ns since the epoch (or the bar index when the bars had no ``ts``)
    edges : float array (n_buckets + 1,), bucket edges in quote currency
    long, short : float arrays (n_bars, n_buckets): estimated notional (quote currency) that would
        be liquidated in each bucket, as it stood at the close of each bar
    long_total, short_total : float arrays (n_bars,): live estimated notional including levels
        outside the grid
    high, low, close : the bars' prices (for the price path over the picture)
    latest : :class:`LiquidationMap` of the last bar (the "current" map)
    params : the assumptions used (a dict)

    ``to_table()`` gives the long form (ts, price_low, price_high, side, notional; empty cells left
    out) as a :class:`liqsim.Table`; ``to_arrow()`` the same as a ``pyarrow.Table``.
    """

    def __init__(
        self,
        ts: np.ndarray,
        edges: np.ndarray,
        long: np.ndarray,
        short: np.ndarray,
        long_total: np.ndarray,
        short_total: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        params: dict[str, Any],
        venue: str,
        symbol: str,
    ) -> None:
        self.ts, self.edges = ts, edges
        self.long, self.short = long, short
        self.long_total, self.short_total = long_total, short_total
        self.high, self.low, self.close = high, low, close
        self.params: dict[str, Any] = params
        n = len(ts)
        last_long = long[-1] if n else np.zeros(len(edges) - 1)
        last_short = short[-1] if n else np.zeros(len(edges) - 1)
        self.latest: LiquidationMap = build_map(
            edges, last_long.copy(), last_short.copy(), mark=float(close[-1]) if n else None,
            venue=venue, symbol=symbol, name="estimated_liquidation_map",
        )

    def __repr__(self) -> str:
        return f"<liqsim Heatmap: {len(self.ts)} bars × {len(self.edges) - 1} price buckets × 2 sides>"

    def to_table(self) -> Table:
        """Long form: one row per non-empty (bar, bucket, side)."""
        parts = []
        for code, grid in enumerate((self.long, self.short)):
            bar, bucket = np.nonzero(grid)
            parts.append((bar, bucket, np.full(len(bar), code, dtype=np.int8), grid[bar, bucket]))
        bar, bucket, side, notional = (np.concatenate(x) for x in zip(*parts))
        return Table(
            {
                "ts": self.ts[bar],
                "price_low": self.edges[bucket],
                "price_high": self.edges[bucket + 1],
                "side": side,
                "notional": notional,
            },
            categories={"side": ["long", "short"]},
            timestamps=["ts"] if self.params.get("has_ts") else [],
            name="liquidation_heatmap",
        )

    def to_arrow(self) -> pa.Table:
        return self.to_table().to_arrow()


def _long_share(t: pa.Table, split: object, open_: np.ndarray, close: np.ndarray) -> np.ndarray:
    table = "bars"
    n = len(close)
    if isinstance(split, (int, float)) and not isinstance(split, bool):
        if not 0.0 <= split <= 1.0:
            raise ValueError(f"split: a fixed long share must be in [0, 1], got {split}")
        return np.full(n, float(split))
    if split == "even":
        return np.full(n, 0.5)
    if split == "candle":
        return np.where(close > open_, 1.0, np.where(close < open_, 0.0, 0.5))
    if split == "taker":
        buy = required_float(t, table, "taker_buy_volume")
        sell = float_column(t, table, "taker_sell_volume")
        if sell is None:
            total = required_float(t, table, "volume")
            sell = total - buy
        total = buy + sell
        bad = np.flatnonzero(~np.isfinite(total) | (buy < 0) | (sell < 0))
        if len(bad):
            raise scenario_error(table, "taker_buy_volume", int(bad[0]), "taker volumes must be finite and ≥ 0")
        return np.asarray(np.divide(buy, total, out=np.full(n, 0.5), where=total > 0))
    if split == "funding":
        col = "funding_rate" if "funding_rate" in t.column_names else "funding"
        rate = required_float(t, table, col)
        rate = np.nan_to_num(rate)
        # Positive funding: longs pay, so longs are the crowded side that opened.
        return np.where(rate > 0, 1.0, np.where(rate < 0, 0.0, 0.5))
    raise ValueError(f"split must be 'candle', 'taker', 'funding', 'even' or a long share in [0, 1], got {split!r}")


def estimate_liquidation_map(
    bars: object,
    price_grid: object = None,
    *,
    split: object = "candle",
    open_at: str = "close",
    leverage: Sequence[float] = DEFAULT_LEVERAGE,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    position_notional: float = 10_000.0,
    oi_unit: str = "base",
    oi_decrease: str = "proportional",
    lookback: int | None = None,
    venue: str = "binance",
    symbol: str = "BTCUSDT",
    tiers: object | None = None,
) -> Heatmap:
    """Estimate where liquidations sit from bars alone, the way public liquidation heatmaps do
    (shared/MODELS.md §6). Vendors publish intensity, not dollars, and warn that such maps
    overstate what is pending; every assumption below is a parameter.

    Per bar, in this order: levels the bar's high/low went through are removed (a long level when
    ``low ≤ level``, a short one when ``high ≥ level``); levels older than ``lookback`` bars
    expire; if open interest fell, that much notional is removed from the live levels; if it
    rose, the new notional is opened at the bar's price, split long/short, spread over the
    leverage buckets, and placed at each bucket's liquidation price. The first bar is the
    baseline (its open-interest change is taken as 0).

    Parameters
    ----------
    bars : table
        Columns ``ts`` (optional; int ns or timestamp), ``open``, ``high``, ``low``, ``close``,
        ``open_interest``; for ``split="taker"``: ``taker_buy_volume`` and ``taker_sell_volume``
        (or ``volume``); for ``split="funding"``: ``funding_rate``; for ``open_at="vwap"``: ``vwap``.
    price_grid : edges, number of buckets, or None (250 buckets from
        ``min(low) × (1 − 1.2 / min(leverage))`` to ``max(high) × (1 + 1.2 / min(leverage))``).
    split : how new open interest divides into longs and shorts. ``"candle"`` (default): all
        long on an up bar (close > open), all short on a down bar, half each on a flat one — the
        first of the three rules MODELS §6 lists (vendors do not say which they use);
        ``"taker"``: the long share is taker buy volume ÷ taker volume; ``"funding"``: all long
        when funding is positive (longs paying are the crowded side), all short when negative;
        ``"even"`` or a number: a fixed long share.
    open_at : ``"close"`` (default, MODELS §6), ``"typical"`` ((high + low + close) / 3) or
        ``"vwap"`` (a ``vwap`` column): the price new positions are opened at.
    leverage, weights : leverage buckets and their shares (sum 1). Default 5/10/25/50/100x at
        15/30/25/20/10 % — "one common default" of public estimators (MODELS §4); the alternative
        there is 5/10/20/50/100x at 20/35/25/15/5 %.
    position_notional : size of one assumed position, quote currency (default 10,000): picks the
        tier whose MMR and maintenance amount enter the venue's liquidation formula. Each level
        is an isolated position with margin = notional / leverage (MODELS §6: "venue formula,
        tier for an assumed size").
    oi_unit : ``"base"`` (default: open interest in contracts/coins, converted at the bar's open
        price) or ``"quote"`` (already in quote currency).
    oi_decrease : ``"proportional"`` (default; MODELS §6: "remove |ΔOI| proportionally from live
        levels"): every live level shrinks by the share of open interest that closed, |ΔOI| / OI
        of the previous bar — closes hit every position alike, including those opened before the
        first bar, which the estimate never saw (removing |ΔOI| in dollars from the levels alone
        would wipe them out whenever the tracked part is smaller than a day's drop); or
        ``"oldest"``: |ΔOI| in quote currency comes off the oldest levels first (first in, first
        out), each side in proportion to what it holds; or ``"nearest"``: |ΔOI| comes off the
        levels nearest the bar's price first, either side (the three choices MODELS §6 lists).
    lookback : keep levels this many bars (None, the default: until removed otherwise).
    venue, symbol, tiers : whose liquidation formula and tiers (as :func:`liqsim.liquidation_price`).

    Returns a :class:`Heatmap` (2-D arrays plus axes; ``.latest`` is the last bar's map as a
    :class:`LiquidationMap`, ``.to_table()`` / ``.to_arrow()`` the long form).

    Example
    -------
    >>> bars = {"open": [100.0, 100.0], "high": [101.0, 101.0], "low": [99.0, 99.0],
    ...         "close": [100.0, 101.0], "open_interest": [0.0, 10.0]}
    >>> hm = estimate_liquidation_map(bars, leverage=[10], weights=[1.0])
    >>> round(float(hm.long_total[-1]), 2)   # 10 coins opened long at 101
    1010.0
    """
    table = "bars"
    t = as_table(bars, table)
    high = required_float(t, table, "high")
    low = required_float(t, table, "low")
    close = required_float(t, table, "close")
    open_ = required_float(t, table, "open")
    oi = required_float(t, table, "open_interest")
    ts = time_column(t, table, "ts")
    has_ts = ts is not None
    if ts is None:
        ts = np.arange(len(close), dtype=np.int64)
    elif len(ts) > 1 and np.any(np.diff(ts) <= 0):
        row = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
        raise scenario_error(table, "ts", row, "timestamps must be strictly increasing")
    bad = np.flatnonzero(~(np.isfinite(oi) & (oi >= 0)))
    if len(bad):
        raise scenario_error(table, "open_interest", int(bad[0]), f"{oi[bad[0]]} must be a number ≥ 0")
    if open_at == "close":
        price = close
    elif open_at == "typical":
        price = (high + low + close) / 3
    elif open_at == "vwap":
        price = required_float(t, table, "vwap")
    else:
        raise ValueError(f"open_at must be 'close', 'typical' or 'vwap', got {open_at!r}")
    if oi_unit not in ("base", "quote"):
        raise ValueError(f"oi_unit must be 'base' or 'quote', got {oi_unit!r}")
    change = np.diff(oi, prepend=oi[:1]) if len(oi) else oi
    previous = np.r_[oi[:1], oi[:-1]]
    closed = np.divide(-change, previous, out=np.zeros(len(oi)), where=(change < 0) & (previous > 0))
    if oi_unit == "base":
        change = change * price
    share = _long_share(t, split, open_, close)
    lev = [float(x) for x in leverage]
    if lookback is not None and (not isinstance(lookback, (int, np.integer)) or lookback < 1):
        raise ValueError(f"lookback must be a whole number of bars ≥ 1 or None, got {lookback!r}")
    finite = np.isfinite(low) & np.isfinite(high)
    lo = float(np.min(low[finite])) if finite.any() else np.nan
    hi = float(np.max(high[finite])) if finite.any() else np.nan
    reach = 1.2 / min(lev) if lev and min(lev) > 0 else 0.25
    edges = grid_edges(price_grid, lo * max(1 - reach, 0.05), hi * (1 + reach), default_buckets=250)
    out = _core.estimate_liquidation_heatmap(
        edges.tolist(), np.ascontiguousarray(high), np.ascontiguousarray(low), np.ascontiguousarray(price),
        np.ascontiguousarray(change, dtype=np.float64), np.ascontiguousarray(closed), np.ascontiguousarray(share), lev,
        [float(w) for w in weights], float(position_notional), oi_decrease, lookback, venue, symbol,
        _tier_columns(tiers),
    )
    m = len(edges) - 1
    params = {
        "split": split, "open_at": open_at, "leverage": tuple(lev), "weights": tuple(weights),
        "position_notional": position_notional, "oi_unit": oi_unit, "oi_decrease": oi_decrease,
        "lookback": lookback, "venue": venue, "symbol": symbol, "has_ts": has_ts,
    }
    return Heatmap(
        ts, edges, out["long"].reshape(-1, m), out["short"].reshape(-1, m), out["long_total"], out["short_total"],
        high, low, close, params, venue, symbol,
    )


__all__ = ["Heatmap", "estimate_liquidation_map", "DEFAULT_LEVERAGE", "DEFAULT_WEIGHTS"]
