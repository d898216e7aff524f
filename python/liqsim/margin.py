"""Vectorised margin formulas of the venue presets (numpy arrays in, numpy arrays out).

Every argument broadcasts against the others, so one call can price positions in several assets
(``symbol`` per row), at several leverages, in both margin modes. The formulas themselves live in
the Rust core; this module only shapes the arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from . import _core
from ._tables import as_table, code_column, float_column, int_column, scenario_error

_SIDE_CODES = {"long": 0, "buy": 0, "short": 1, "sell": 1}
_MODE_CODES = {"cross": 0, "isolated": 1}


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


def _shape(value: object) -> tuple[int, ...]:
    """The broadcasting shape of an argument (None and scalars: ())."""
    return () if value is None else tuple(np.shape(np.asarray(value)))


def _flat(column: object, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(column, dtype=dtype).ravel()


def _symbol_codes(symbol: object, shape: tuple[int, ...]) -> dict[str, Any]:
    """One symbol for every row (the common case: no per-row work), or per-row codes into the
    distinct symbols (hash-encoded by Arrow, then broadcast)."""
    if isinstance(symbol, str):
        return {"symbols": [symbol]}
    given = np.asarray(symbol)
    try:
        encoded = pa.array(given.ravel(), type=pa.string()).dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise scenario_error("positions", "symbol", None, f"symbols must be strings ({e})") from None
    if encoded.null_count:
        raise scenario_error("positions", "symbol", int(np.flatnonzero(encoded.is_null())[0]), "symbol is missing")
    codes = encoded.indices.to_numpy(zero_copy_only=False).reshape(given.shape)
    return {"symbols": encoded.dictionary.to_pylist(), "symbol_code": _flat(np.broadcast_to(codes, shape), np.uint32)}


def _options(
    shape: tuple[int, ...],
    symbol: object,
    tiers: object | None,
    max_leverage: ArrayLike | None,
    margin_mode: ArrayLike | None = None,
    leverage: ArrayLike | None = None,
) -> dict[str, Any]:
    """The keyword arguments of the core formula functions for rows of ``shape``."""
    out: dict[str, Any] = _symbol_codes(symbol, shape)
    if tiers is not None:
        if max_leverage is not None:
            raise scenario_error("positions", "max_leverage", None, "give tiers or max_leverage, not both")
        t = as_table(tiers, "tiers")
        out["tiers"] = (
            float_column(t, "tiers", "floor", required=True).tolist(),
            float_column(t, "tiers", "cap", required=True).tolist(),
            float_column(t, "tiers", "mmr", required=True).tolist(),
            int_column(t, "tiers", "max_leverage", required=True).tolist(),
        )
    if max_leverage is not None:
        lev = np.broadcast_to(np.asarray(max_leverage, dtype=np.float64), shape).ravel()
        given = ~np.isnan(lev)  # NaN: the asset's built-in table
        bad = np.flatnonzero(given & ~((lev >= 1) & (lev == np.round(lev)) & (lev < 2**32)))
        if bad.size:
            raise scenario_error("positions", "max_leverage", int(bad[0]),
                                 f"max leverage must be a whole number ≥ 1, got {lev[bad[0]]}")
        out["max_leverage"] = _flat(np.where(given, lev, 0), np.uint32)
    if margin_mode is not None:
        modes = np.asarray(margin_mode)
        codes = code_column(pa.table({"margin_mode": modes.ravel()}), "positions", "margin_mode", _MODE_CODES,
                            required=True).reshape(modes.shape)
        isolated = _flat(np.broadcast_to(codes, shape), np.uint8)
        if isolated.any():
            if leverage is None:
                raise scenario_error("positions", "leverage", int(np.flatnonzero(isolated)[0]),
                                     "isolated positions need their leverage (initial margin = notional / leverage)")
            lev = np.broadcast_to(np.asarray(leverage, dtype=np.float64), shape).ravel()
            bad = np.flatnonzero(isolated.astype(bool) & ~(np.isfinite(lev) & (lev > 0)))
            if bad.size:
                raise scenario_error("positions", "leverage", int(bad[0]), f"leverage must be > 0, got {lev[bad[0]]}")
            out["isolated"] = isolated
            out["leverage"] = _flat(lev, np.float64)
    return out


def _position_formula(
    core_function: Callable[..., np.ndarray],
    side: ArrayLike,
    qty: ArrayLike,
    entry_price: ArrayLike,
    balance: ArrayLike | None,
    venue: str,
    symbol: object,
    tiers: object | None,
    max_leverage: ArrayLike | None,
    margin_mode: ArrayLike | None,
    leverage: ArrayLike | None,
) -> np.ndarray:
    size = _signed_size(side, qty)
    backing = np.nan if balance is None else balance
    shape = np.broadcast_shapes(*(_shape(c) for c in (size, entry_price, backing, symbol, max_leverage, margin_mode,
                                                      leverage)))
    s, e, b = (_flat(np.broadcast_to(np.asarray(c, dtype=np.float64), shape), np.float64)
               for c in (size, entry_price, backing))
    options = _options(shape, symbol, tiers, max_leverage, margin_mode, leverage)
    cross = ~options.get("isolated", np.zeros(len(s), dtype=np.uint8)).astype(bool)
    missing = np.flatnonzero(cross & np.isnan(b))
    if missing.size:
        raise scenario_error("positions", "balance", int(missing[0]),
                             "a cross position needs the balance backing it (or margin_mode='isolated' with leverage)")
    return np.asarray(core_function(s, e, b, venue, **options)).reshape(shape)


def liquidation_price(
    side: ArrayLike,
    qty: ArrayLike,
    entry_price: ArrayLike,
    balance: ArrayLike | None = None,
    venue: str = "binance",
    symbol: object = "BTCUSDT",
    *,
    tiers: object | None = None,
    max_leverage: ArrayLike | None = None,
    margin_mode: ArrayLike | None = None,
    leverage: ArrayLike | None = None,
) -> np.ndarray:
    """Liquidation price (quote currency) of single positions, per the venue's formula.

    ``side`` is ``"long"``/``"short"`` (or +1/−1), ``qty`` in base units, ``entry_price`` in quote
    currency. ``balance`` (quote currency) is the money backing a *cross* position: the wallet of an
    account holding only it (or an isolated margin you already know). For ``margin_mode="isolated"``
    rows the margin is the initial margin ``qty × entry_price / leverage`` plus ``balance`` as extra
    margin (default none). Every argument broadcasts, ``symbol`` included (any asset the venue's
    preset knows); NaN where there is no liquidation price (e.g. a 1x long).

    Binance and Bybit use the tier at the liquidation price (Bybit's live engine: maintenance on the
    mark value). ``tiers=`` (columns ``floor``, ``cap``, ``mmr``, ``max_leverage``) replaces the
    preset's table; ``max_leverage=`` gives a Hyperliquid asset's max leverage (MMR = 1 / (2 × it)),
    needed for assets without a built-in table (NaN in a row: that asset's built-in table).

    >>> import liqsim
    >>> float(liqsim.liquidation_price("long", 1.0, 20_000.0, venue="bybit", margin_mode="isolated",
    ...                                 leverage=50).round(2))
    19698.49
    >>> liqsim.liquidation_price("short", 351, 0.14333, 25.136807, venue="hyperliquid", symbol="DOGE",
    ...                          max_leverage=20).round(7).tolist()
    0.2097023
    """
    return _position_formula(_core.liquidation_prices, side, qty, entry_price, balance, venue, symbol, tiers,
                             max_leverage, margin_mode, leverage)


def bankruptcy_price(
    side: ArrayLike,
    qty: ArrayLike,
    entry_price: ArrayLike,
    balance: ArrayLike | None = None,
    venue: str = "binance",
    symbol: object = "BTCUSDT",
    *,
    tiers: object | None = None,
    max_leverage: ArrayLike | None = None,
    margin_mode: ArrayLike | None = None,
    leverage: ArrayLike | None = None,
) -> np.ndarray:
    """Price (quote currency) at which the position's margin balance reaches zero; same arguments as
    :func:`liquidation_price`.

    >>> import liqsim
    >>> float(liqsim.bankruptcy_price("long", 1.0, 10_000.0, venue="bybit", margin_mode="isolated", leverage=50))
    9800.0
    """
    return _position_formula(_core.bankruptcy_prices, side, qty, entry_price, balance, venue, symbol, tiers,
                             max_leverage, margin_mode, leverage)


def maintenance_margin(
    notional: ArrayLike,
    venue: str = "binance",
    symbol: object = "BTCUSDT",
    *,
    tiers: object | None = None,
    max_leverage: ArrayLike | None = None,
) -> np.ndarray:
    """Maintenance margin (quote currency) of position notionals (quote currency) with the venue's
    tier table: ``notional × MMR − cum`` with the notional's own tier. ``symbol``, ``tiers`` and
    ``max_leverage`` as in :func:`liquidation_price`.

    >>> import liqsim
    >>> liqsim.maintenance_margin([600_000.0, 200e6], venue="hyperliquid", symbol="BTC").tolist()
    [7500.0, 3125000.0]
    """
    shape = np.broadcast_shapes(_shape(notional), _shape(symbol), _shape(max_leverage))
    n = _flat(np.broadcast_to(np.asarray(notional, dtype=np.float64), shape), np.float64)
    options = _options(shape, symbol, tiers, max_leverage)
    return np.asarray(_core.maintenance_margins(n, venue, **options)).reshape(shape)
