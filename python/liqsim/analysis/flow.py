"""Indicators of order flow and positioning: CVD and the open-interest / price regime."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .._tables import as_table, float_column, scenario_error, time_column
from ..results import Table
from ._columns import required_codes, required_float

_AGGRESSOR_CODES = {"buy": 0, "sell": 1, "bid": 0, "ask": 1, "b": 0, "s": 1}


def cvd(data: object, *, table: str = "trades") -> Table:
    """Cumulative volume delta: Σ taker-buy volume − Σ taker-sell volume, running (base units).

    Accepts
    - a trade table with ``qty`` and either ``aggressor`` / ``side`` (buy/sell: the taker's side)
      or ``is_buyer_maker`` / ``m`` (Binance aggTrades: true = the seller took, MODELS §7);
    - a bar table with ``taker_buy_volume`` and ``taker_sell_volume`` (or ``volume``).

    Returns a :class:`liqsim.Table` ``cvd`` with ``ts`` (when given), ``delta`` (this row's buy −
    sell volume) and ``cvd`` (running sum), plus ``delta_quote``/``cvd_quote`` (× ``price``) when
    the table has prices.

    Example
    -------
    >>> cvd({"qty": [1.0, 2.0, 0.5], "aggressor": ["buy", "sell", "buy"]})["cvd"].tolist()
    [1.0, -1.0, -0.5]
    """
    t = as_table(data, table)
    names = t.column_names
    if "taker_buy_volume" in names:
        buy = required_float(t, table, "taker_buy_volume")
        sell = float_column(t, table, "taker_sell_volume")
        if sell is None:
            sell = required_float(t, table, "volume") - buy
        delta = buy - sell
        price = float_column(t, table, "close")
    else:
        qty = required_float(t, table, "qty")
        maker_flag = next((c for c in ("is_buyer_maker", "m") if c in names), None)
        if maker_flag is not None:
            col = t.column(maker_flag).combine_chunks()
            if not pa.types.is_boolean(col.type) or col.null_count:
                raise scenario_error(table, maker_flag, None, "must be true/false with no missing values")
            sign = np.where(np.asarray(col.to_numpy(zero_copy_only=False)), -1.0, 1.0)
        else:
            side_col = "aggressor" if "aggressor" in names else "side"
            codes = required_codes(t, table, side_col, _AGGRESSOR_CODES)
            sign = np.where(codes == 0, 1.0, -1.0)
        delta = sign * qty
        price = float_column(t, table, "price")
    bad = np.flatnonzero(~np.isfinite(delta))
    if len(bad):
        raise scenario_error(table, None, int(bad[0]), "volume is missing or not finite")
    cols: dict[str, np.ndarray] = {}
    ts = time_column(t, table, "ts")
    if ts is not None:
        cols["ts"] = ts
    cols["delta"] = delta
    cols["cvd"] = np.cumsum(delta)
    if price is not None:
        cols["delta_quote"] = delta * price
        cols["cvd_quote"] = np.cumsum(cols["delta_quote"])
    return Table(cols, timestamps=["ts"] if ts is not None else [], name="cvd")


#: Regime names, by code.
REGIMES = ["flat", "new_longs", "new_shorts", "short_covering", "long_liquidation", "build_up", "unwind"]


def oi_regime(
    data: object,
    *,
    window: int = 1,
    price_threshold: float = 0.001,
    oi_threshold: float = 0.001,
    price: str = "close",
    table: str = "bars",
) -> Table:
    """Open-interest / price regime per window (MODELS §7):

    ========  ========  ==================================
    price     OI        regime
    ========  ========  ==================================
    up        up        ``new_longs``
    down      up        ``new_shorts``
    up        down      ``short_covering`` (a squeeze)
    down      down      ``long_liquidation``
    flat      up        ``build_up`` (positioning builds)
    flat      down      ``unwind``
    any       flat      ``flat``
    ========  ========  ==================================

    "Up" means the relative change over ``window`` rows is above ``threshold``, "down" below
    ``−threshold`` (fractions: 0.001 = 0.1 %). ``data`` is a bar or series table with ``close``
    (or the column named by ``price``; ``mark``/``last`` on a simulation series) and
    ``open_interest``. The first ``window`` rows have no regime (``flat``, with NaN changes).

    Returns a :class:`liqsim.Table` ``oi_regime``: ``ts`` (when given), ``price_change`` and
    ``oi_change`` (fractions) and ``regime`` (categorical).

    Example
    -------
    >>> r = oi_regime({"close": [100, 101, 100, 100], "open_interest": [10, 11, 12, 11]})
    >>> r["regime"].tolist()
    ['flat', 'new_longs', 'new_shorts', 'unwind']
    """
    t = as_table(data, table)
    p = required_float(t, table, price)
    oi = required_float(t, table, "open_interest")
    if window < 1:
        raise ValueError(f"window must be ≥ 1 rows, got {window}")
    n = len(p)
    dp = np.full(n, np.nan)
    doi = np.full(n, np.nan)
    if n > window:
        dp[window:] = p[window:] / p[:-window] - 1
        doi[window:] = oi[window:] / oi[:-window] - 1
    up_p, down_p = dp > price_threshold, dp < -price_threshold
    up_oi, down_oi = doi > oi_threshold, doi < -oi_threshold
    flat_p = ~(up_p | down_p)
    regime = np.zeros(n, dtype=np.int8)
    regime[up_p & up_oi] = 1
    regime[down_p & up_oi] = 2
    regime[up_p & down_oi] = 3
    regime[down_p & down_oi] = 4
    regime[flat_p & up_oi & ~np.isnan(dp)] = 5
    regime[flat_p & down_oi & ~np.isnan(dp)] = 6
    cols: dict[str, np.ndarray] = {}
    ts = time_column(t, table, "ts")
    if ts is not None:
        cols["ts"] = ts
    cols |= {"price_change": dp, "oi_change": doi, "regime": regime}
    return Table(cols, categories={"regime": REGIMES}, timestamps=["ts"] if ts is not None else [], name="oi_regime")


__all__ = ["cvd", "oi_regime", "REGIMES"]
