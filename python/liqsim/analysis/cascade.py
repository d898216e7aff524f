"""Cascade arithmetic: liquidation density against book depth (MODELS §5)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..results import Table
from .depth import book_levels
from .maps import LiquidationMap


def cascade_ratio(liq_map: LiquidationMap, book: object, mark: float | None = None) -> Table:
    """The cascade ratio over price: how much forced flow a push releases per unit of book that
    absorbs it.

    For a move from ``mark`` to a price P (each bucket edge of the map away from the mark):

    - ``liquidation_notional``: map notional (shorts going up, longs going down) of the buckets
      whose centre lies between the mark and P (quote currency);
    - ``depth_notional``: book notional Σ price × qty between the mark and P (asks going up, bids
      going down);
    - ``n = liquidation_notional / depth_notional`` — the same as liquidation notional per 1 % ÷
      depth per 1 % over the band (MODELS §5: n = ℓ / D);
    - ``amplification = 1 / (1 − n)`` for n < 1 (Δ* = Δ₀ / (1 − n) under linear impact), inf for
      n ≥ 1 (runs away until the cluster is exhausted).

    ``book`` is a book table (side, price, qty) or a :class:`liqsim.OrderBook`; ``mark`` defaults
    to the map's mark, then to the book's mid.

    Returns a :class:`liqsim.Table` ``cascade_ratio``: ``direction`` (up/down), ``price``,
    ``distance`` (fraction from the mark, signed), ``liquidation_notional``, ``depth_notional``,
    ``n``, ``amplification``.

    Example
    -------
    >>> from liqsim.analysis.maps import build_map
    >>> m = build_map(np.array([98.0, 99, 100, 101, 102]), np.array([0, 50.0, 0, 0]), np.array([0, 0, 100.0, 0]),
    ...               mark=100.0)
    >>> book = {"side": ["bid", "ask", "ask"], "price": [99.0, 100.5, 101.5], "qty": [1.0, 2.0, 2.0]}
    >>> c = cascade_ratio(m, book)
    >>> up = c["direction"] == "up"
    >>> c["price"][up].tolist(), c["n"][up].round(4).tolist(), c["amplification"][up].round(4).tolist()
    ([101.0, 102.0], [0.4975, 0.2475], [1.9901, 1.3289])
    """
    bp, bq, ap, aq = book_levels(book)
    if mark is None:
        mark = liq_map.mark
    if mark is None:
        if len(bp) == 0 or len(ap) == 0:
            raise ValueError("no mark on the map and an empty book side: pass mark=")
        mark = float((bp[0] + ap[0]) / 2)
    centre = liq_map["price"]  # increasing
    edges = liq_map.edges

    def within(prices: np.ndarray, values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Σ values whose price lies in [lo, hi], for each pair (prices sorted ascending):
        cumulative sums and binary search, so the cost does not grow with edges × levels."""
        cum = np.concatenate([[0.0], np.cumsum(values)])
        return np.asarray(cum[np.searchsorted(prices, hi, side="right")] - cum[np.searchsorted(prices, lo, side="left")])

    up_to = edges[edges > mark]
    down_to = edges[edges < mark][::-1]
    asks = np.argsort(ap, kind="stable")
    bids = np.argsort(bp, kind="stable")
    rows = {
        "direction": [0] * len(up_to) + [1] * len(down_to),
        "price": np.concatenate([up_to, down_to]),
        # Up: shorts above the mark against asks; down: longs below it against bids.
        "liquidation_notional": np.concatenate([
            within(centre, liq_map["short_notional"], np.full(len(up_to), mark), up_to),
            within(centre, liq_map["long_notional"], down_to, np.full(len(down_to), mark)),
        ]),
        "depth_notional": np.concatenate([
            within(ap[asks], (ap * aq)[asks], np.full(len(up_to), mark), up_to),
            within(bp[bids], (bp * bq)[bids], down_to, np.full(len(down_to), mark)),
        ]),
    }
    cols = {k: np.asarray(v, dtype=np.int8 if k == "direction" else np.float64) for k, v in rows.items()}
    liq = np.asarray(rows["liquidation_notional"], dtype=np.float64)
    depth = np.asarray(rows["depth_notional"], dtype=np.float64)
    price = np.asarray(rows["price"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where(depth > 0, liq / depth, np.where(liq > 0, np.inf, 0.0))
        amp = np.where(n < 1, 1.0 / (1.0 - n), np.inf)
    out = {
        "direction": cols["direction"],
        "price": price,
        "distance": price / mark - 1,
        "liquidation_notional": liq,
        "depth_notional": depth,
        "n": n,
        "amplification": amp,
    }
    return Table(out, categories={"direction": ["up", "down"]}, name="cascade_ratio")


def cascade_ratio_at(
    liq_map: LiquidationMap, book: object, band: float = 0.01, mark: float | None = None
) -> dict[str, Any]:
    """The cascade ratio n̂ within ``band`` of the mark (default 1 %, MODELS §7): liquidation
    notional within the band ÷ book depth within the band, each direction, with its
    amplification 1/(1 − n̂). Returns ``{"up": {"n": ..., "amplification": ...}, "down": {...}}``
    (the curve's row nearest to the band edge at or inside it).
    """
    curve = cascade_ratio(liq_map, book, mark)
    out = {}
    for direction in ("up", "down"):
        rows = np.flatnonzero((curve["direction"] == direction) & (np.abs(curve["distance"]) <= band + 1e-12))
        if len(rows) == 0:
            out[direction] = {"n": np.nan, "amplification": np.nan, "price": np.nan}
            continue
        r = rows[np.argmax(np.abs(curve["distance"][rows]))]
        out[direction] = {"n": float(curve["n"][r]), "amplification": float(curve["amplification"][r]),
                          "price": float(curve["price"][r])}
    return out


def liquidation_distance(price: object, liquidation_price: object, side: object) -> np.ndarray:
    """How far price must move to liquidate a position, as a fraction of ``price`` (MODELS §7):
    ``(P − P_liq) / P`` for longs, ``(P_liq − P) / P`` for shorts. ``side`` is ``"long"``/
    ``"short"`` or +1/−1; NaN where there is no liquidation price; ≤ 0 means liquidatable now.

    Example
    -------
    >>> liquidation_distance(100.0, [90.0, 104.0], ["long", "short"]).tolist()
    [0.1, 0.04]
    """
    s = np.asarray(side)
    if s.dtype.kind in "iuf":
        sign = np.sign(s.astype(np.float64))
    else:
        lowered = np.char.lower(s.astype(str))
        bad = ~np.isin(lowered, ["long", "short", "buy", "sell"])
        if bad.any():
            raise ValueError(f"side must be 'long' or 'short', got {s.ravel()[np.flatnonzero(bad.ravel())[0]]!r}")
        sign = np.where(np.isin(lowered, ["long", "buy"]), 1.0, -1.0)
    p = np.asarray(price, dtype=np.float64)
    lp = np.asarray(liquidation_price, dtype=np.float64)
    return np.round(sign * (p - lp) / p, 15)


__all__ = ["cascade_ratio", "cascade_ratio_at", "liquidation_distance"]
