"""Vectorised margin formulas of the venue presets (numpy arrays in, numpy arrays out)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from . import _core
from ._tables import code_column, scenario_error

_SIDE_CODES = {"long": 0, "buy": 0, "short": 1, "sell": 1}

def _signed_size(side: object, qty: object) -> np.ndarray:
    """qty with the sign of side: "long"/"buy" +, "short"/"sell" − (or a numeric sign)."""
    sides = np.asarray(side)
    q = np.asarray(qty, dtype=np.float64)
    if np.any(q < 0):
        # With a side given, a negative size is a contradiction, not a short (it used to flip it).
        row = int(np.flatnonzero(np.ravel(q < 0))[0])
        raise scenario_error("positions", "qty", row, f"{np.ravel(q)[row]} must be ≥ 0 (side gives the direction)")
    if sides.dtype.kind in "iuf":
        sign = np.sign(sides.astype(np.float64))
    else:
        # The same lookup as every categorical column of a table (errors name the row).
        codes = code_column(pa.table({"side": sides.ravel()}), "positions", "side", _SIDE_CODES, required=True)
        sign = np.array([1.0, -1.0])[codes].reshape(sides.shape)
    return sign * np.asarray(qty, dtype=np.float64)


def _arrays(*columns: ArrayLike) -> list[np.ndarray]:
    return [np.ascontiguousarray(c, dtype=np.float64).ravel() for c in np.broadcast_arrays(*columns)]


def liquidation_price(
    side: ArrayLike, qty: ArrayLike, entry_price: ArrayLike, balance: ArrayLike, venue: str = "binance",
    symbol: str = "BTCUSDT",
) -> np.ndarray:
    """Liquidation price of single positions, per the venue's formula.

    ``side`` is ``"long"``/``"short"`` (or +1/−1), ``qty`` in base units, ``entry_price`` in quote
    currency, ``balance`` the money backing the position (its isolated margin, or the wallet of a
    cross account holding nothing else). Arguments broadcast; NaN where there is no liquidation
    price (e.g. a 1x long). Binance and Bybit use the tier at the liquidation price.
    """
    size = _signed_size(side, qty)
    s, e, b = _arrays(size, entry_price, balance)
    shape = np.broadcast_shapes(np.shape(size), np.shape(entry_price), np.shape(balance))
    return _core.liquidation_prices(s, e, b, venue, symbol).reshape(shape)


def bankruptcy_price(
    side: ArrayLike, qty: ArrayLike, entry_price: ArrayLike, balance: ArrayLike, venue: str = "binance",
    symbol: str = "BTCUSDT",
) -> np.ndarray:
    """Price at which the position's margin balance reaches zero (same arguments as
    :func:`liquidation_price`)."""
    size = _signed_size(side, qty)
    s, e, b = _arrays(size, entry_price, balance)
    shape = np.broadcast_shapes(np.shape(size), np.shape(entry_price), np.shape(balance))
    return _core.bankruptcy_prices(s, e, b, venue, symbol).reshape(shape)


def maintenance_margin(notional: ArrayLike, venue: str = "binance", symbol: str = "BTCUSDT") -> np.ndarray:
    """Maintenance margin (quote currency) of position notionals with the venue's tier table:
    ``notional × MMR − cum`` with the notional's own tier."""
    (n,) = _arrays(notional)
    return _core.maintenance_margins(n, venue, symbol).reshape(np.shape(notional))
