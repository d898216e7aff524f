"""Vectorised margin formulas of the venue presets (numpy arrays in, numpy arrays out)."""

from __future__ import annotations

import numpy as np

from . import _core
from .errors import ScenarioError

def _signed_size(side: object, qty: object) -> np.ndarray:
    """qty with the sign of side: "long"/"buy" +, "short"/"sell" − (or a numeric sign)."""
    sides = np.asarray(side)
    if sides.dtype.kind in "iuf":
        sign = np.sign(sides.astype(np.float64))
    else:
        text = getattr(np, "strings", np.char).lower(sides.astype(str))  # numpy 2: a real ufunc
        sign = np.where(np.isin(text, ["long", "buy"]), 1.0, np.where(np.isin(text, ["short", "sell"]), -1.0, np.nan))
        if np.isnan(sign).any():
            bad = text.ravel()[np.flatnonzero(np.isnan(sign.ravel()))[0]]
            raise ScenarioError(f"side must be 'long' or 'short', got {bad!r}")
    return sign * np.asarray(qty, dtype=np.float64)


def _arrays(*columns: object) -> list[np.ndarray]:
    return [np.ascontiguousarray(c, dtype=np.float64).ravel() for c in np.broadcast_arrays(*columns)]


def liquidation_price(side, qty, entry_price, balance, venue: str = "binance", symbol: str = "BTCUSDT") -> np.ndarray:
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


def bankruptcy_price(side, qty, entry_price, balance, venue: str = "binance", symbol: str = "BTCUSDT") -> np.ndarray:
    """Price at which the position's margin balance reaches zero (same arguments as
    :func:`liquidation_price`)."""
    size = _signed_size(side, qty)
    s, e, b = _arrays(size, entry_price, balance)
    shape = np.broadcast_shapes(np.shape(size), np.shape(entry_price), np.shape(balance))
    return _core.bankruptcy_prices(s, e, b, venue, symbol).reshape(shape)


def maintenance_margin(notional, venue: str = "binance", symbol: str = "BTCUSDT") -> np.ndarray:
    """Maintenance margin (quote currency) of position notionals with the venue's tier table:
    ``notional × MMR − cum`` with the notional's own tier."""
    (n,) = _arrays(notional)
    return _core.maintenance_margins(n, venue, symbol).reshape(np.shape(notional))
