"""Book depth near the price: depth within x %, imbalance, microprice."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._tables import as_table
from ..book import SIDE_CODES
from ._columns import required_codes, required_float


def book_levels(book: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bid prices, bid qty, ask prices, ask qty), best first, from a book table (``side``
    bid/ask or buy/sell, ``price``, ``qty``; several rows at a price add up) or a
    :class:`liqsim.OrderBook`."""
    if hasattr(book, "depth") and hasattr(book, "best_bid"):
        # An OrderBook or Exchange: its depth table has a row per level and side, best first.
        d = book.depth(1 << 30)
        bid = d["side"] == "bid"
        return d["price"][bid], d["qty"][bid], d["price"][~bid], d["qty"][~bid]
    t = as_table(book, "book")
    side = required_codes(t, "book", "side", SIDE_CODES)
    price = required_float(t, "book", "price")
    qty = required_float(t, "book", "qty")
    out = []
    for code, descending in ((0, True), (1, False)):
        p, q = price[side == code], qty[side == code]
        levels, inverse = np.unique(p, return_inverse=True)
        sums = np.bincount(inverse, weights=q, minlength=len(levels))
        order = slice(None, None, -1) if descending else slice(None)
        out += [levels[order], sums[order]]
    return out[0], out[1], out[2], out[3]


def depth_within(book: object, pct: float = 0.01, *, mid: float | None = None) -> dict[str, Any]:
    """Depth within ``pct`` (a fraction: 0.01 = 1 %) of ``mid`` (default: (best bid + best ask) / 2),
    MODELS §7.

    Returns a dict: ``mid``, ``bid_notional`` / ``ask_notional`` (Σ price × qty of the levels
    within the band, quote currency), ``bid_qty`` / ``ask_qty`` (base units), ``imbalance``
    ``(V_b − V_a) / (V_b + V_a)`` on the notionals in the band, and ``microprice``
    ``P_b·V_a/(V_a+V_b) + P_a·V_b/(V_a+V_b)`` from the best level sizes.

    Example
    -------
    >>> book = {"side": ["bid", "bid", "ask", "ask"], "price": [99.5, 98.0, 100.5, 101.5], "qty": [2.0, 5.0, 1.0, 3.0]}
    >>> d = depth_within(book, 0.01)
    >>> d["bid_notional"], d["ask_notional"], round(d["imbalance"], 4), d["microprice"]
    (199.0, 100.5, 0.3289, 100.16666666666666)
    """
    if not (np.isfinite(pct) and pct >= 0):
        raise ValueError(f"pct must be ≥ 0, got {pct}")
    bp, bq, ap, aq = book_levels(book)
    if mid is None:
        if len(bp) == 0 or len(ap) == 0:
            raise ValueError("the book has an empty side: pass mid=")
        mid = (bp[0] + ap[0]) / 2
    in_b = bp >= mid * (1 - pct)
    in_a = ap <= mid * (1 + pct)
    vb = float((bp[in_b] * bq[in_b]).sum())
    va = float((ap[in_a] * aq[in_a]).sum())
    micro = np.nan
    if len(bp) and len(ap):
        micro = float(bp[0] * aq[0] / (aq[0] + bq[0]) + ap[0] * bq[0] / (aq[0] + bq[0]))
    return {
        "mid": float(mid),
        "bid_notional": vb,
        "ask_notional": va,
        "bid_qty": float(bq[in_b].sum()),
        "ask_qty": float(aq[in_a].sum()),
        "imbalance": (vb - va) / (vb + va) if vb + va > 0 else np.nan,
        "microprice": micro,
    }


__all__ = ["depth_within", "book_levels"]
