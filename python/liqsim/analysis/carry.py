"""Funding and basis: what holding the perpetual costs, in the units traders quote."""

from __future__ import annotations

import numpy as np


def funding_annualized(rate: object, interval_hours: float = 8.0) -> np.ndarray:
    """Funding rate per interval (a fraction: 0.0001 = 0.01 %) as a simple annual rate:
    ``rate × (24 / interval_hours) × 365`` (MODELS §7). Returns a fraction per year
    (0.1095 = 10.95 % p.a.); multiply by 100 for percent.

    Example
    -------
    >>> float(funding_annualized(0.0001, interval_hours=8))   # 0.01 % per 8 h
    0.1095
    """
    if not (np.isfinite(interval_hours) and interval_hours > 0):
        raise ValueError(f"interval_hours must be > 0, got {interval_hours}")
    return np.round(np.asarray(rate, dtype=np.float64) * (24.0 / interval_hours) * 365.0, 15)


def basis(perp: object, index: object, *, days: float | None = None) -> dict[str, np.ndarray]:
    """Basis of the perpetual against its index (spot): ``(perp − index) / index``.

    Returns ``{"basis": fraction, "bp": basis in basis points}``, plus, with ``days`` (the horizon
    over which the gap is expected to close, e.g. a dated future's time to expiry, or a funding
    interval's 1/3 day), ``"annualized"``: ``basis × 365 / days`` as a fraction per year.
    On 2025-10-10 BTCUSDT perps traded ~5 % below spot: −500 bp (MODELS §7).

    Example
    -------
    >>> b = basis(95.0, 100.0, days=1.0)
    >>> float(b["bp"][()]), float(b["annualized"][()])
    (-500.0, -18.25)
    """
    p = np.asarray(perp, dtype=np.float64)
    i = np.asarray(index, dtype=np.float64)
    if np.any(i <= 0):
        raise ValueError("index prices must be > 0")
    b = p / i - 1.0
    out = {"basis": b, "bp": np.round(b * 1e4, 9)}
    if days is not None:
        if not days > 0:
            raise ValueError(f"days must be > 0, got {days}")
        out["annualized"] = np.round(b * 365.0 / days, 12)
    return out


def premium_index(impact_bid: object, impact_ask: object, index: object) -> np.ndarray:
    """Binance's premium index ``[max(0, impact bid − index) − max(0, index − impact ask)] / index``
    (MODELS §7), a fraction.

    Example
    -------
    >>> float(premium_index(101.0, 102.0, 100.0))
    0.01
    """
    b = np.asarray(impact_bid, dtype=np.float64)
    a = np.asarray(impact_ask, dtype=np.float64)
    i = np.asarray(index, dtype=np.float64)
    return (np.maximum(0.0, b - i) - np.maximum(0.0, i - a)) / i


__all__ = ["funding_annualized", "basis", "premium_index"]
