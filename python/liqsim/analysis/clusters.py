"""Clusters on a liquidation map: where liquidations bunch up, and how much sits near the price."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..results import Table
from .maps import LiquidationMap

_SIDES = ("long", "short")


def find_clusters(
    liq_map: LiquidationMap, *, min_share: float = 0.2, merge_within: float = 0.005, mark: float | None = None
) -> Table:
    """Clusters of a liquidation map, per side.

    A bucket is a peak candidate when its notional is at least ``min_share`` × the side's largest
    bucket (MODELS §6: "local maxima above a share of the maximum"); candidates whose centres lie
    within ``merge_within`` (a fraction of price: 0.005 = 0.5 %) of the previous one join the same
    cluster. A cluster spans from its first candidate's lower edge to its last candidate's upper
    edge and holds every bucket's notional in between.

    Returns a :class:`liqsim.Table` ``clusters``: ``side`` (long/short), ``price_low``,
    ``price_high``, ``centre`` (notional-weighted mean of bucket centres), ``peak`` (centre of the
    largest bucket), ``notional`` (quote currency), ``distance`` (``centre / mark − 1``; NaN
    without a mark), sorted by side then price.

    Example
    -------
    >>> from liqsim.analysis.maps import build_map
    >>> m = build_map(np.arange(100.0, 106.0), np.zeros(5), np.array([0, 5.0, 1.0, 4.0, 0]), mark=100.0)
    >>> c = find_clusters(m, min_share=0.5, merge_within=0.025)
    >>> c["price_low"].tolist(), c["price_high"].tolist(), c["notional"].tolist()
    ([101.0], [104.0], [10.0])
    """
    if not 0.0 < min_share <= 1.0:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    if not merge_within >= 0.0:
        raise ValueError(f"merge_within must be ≥ 0, got {merge_within}")
    mark = liq_map.mark if mark is None else mark
    low, high, centre = liq_map["price_low"], liq_map["price_high"], liq_map["price"]
    rows: dict[str, list[Any]] = {k: [] for k in ("side", "price_low", "price_high", "centre", "peak", "notional")}
    for code, side in enumerate(_SIDES):
        notional = np.asarray(liq_map[f"{side}_notional"], dtype=np.float64)
        top = notional.max() if len(notional) else 0.0
        if not top > 0:
            continue
        candidates = np.flatnonzero(notional >= min_share * top)
        groups: list[list[int]] = [[int(candidates[0])]]
        for i in candidates[1:]:
            prev = groups[-1][-1]
            if centre[i] - centre[prev] <= merge_within * centre[prev]:
                groups[-1].append(int(i))
            else:
                groups.append([int(i)])
        for g in groups:
            a, b = g[0], g[-1] + 1
            part = notional[a:b]
            total = float(part.sum())
            rows["side"].append(code)
            rows["price_low"].append(float(low[a]))
            rows["price_high"].append(float(high[b - 1]))
            rows["centre"].append(float((centre[a:b] * part).sum() / total))
            rows["peak"].append(float(centre[a + int(np.argmax(part))]))
            rows["notional"].append(total)
    cols: dict[str, np.ndarray] = {
        k: np.asarray(v, dtype=np.int8 if k == "side" else np.float64) for k, v in rows.items()
    }
    cols["distance"] = cols["centre"] / mark - 1 if mark else np.full(len(cols["centre"]), np.nan)
    return Table(cols, categories={"side": list(_SIDES)}, name="clusters")


def notional_within(liq_map: LiquidationMap, band: float, mark: float | None = None) -> dict[str, float]:
    """Liquidation notional (quote currency) per side whose bucket centre lies within ``band``
    (a fraction: 0.02 = ±2 %) of ``mark``: longs below the mark, shorts above it. Bucket
    resolution: a bucket counts whole when its centre is inside the band.

    Example
    -------
    >>> from liqsim.analysis.maps import build_map
    >>> m = build_map(np.array([96.0, 98, 100, 102, 104]), np.array([1.0, 2, 0, 0]), np.array([0, 0, 3.0, 4]))
    >>> notional_within(m, 0.02, mark=100.0)
    {'long': 2.0, 'short': 3.0}
    """
    mark = _need_mark(liq_map, mark)
    c = liq_map["price"]
    below = (c <= mark) & (c >= mark * (1 - band))
    above = (c >= mark) & (c <= mark * (1 + band))
    return {
        "long": float(liq_map["long_notional"][below].sum()),
        "short": float(liq_map["short_notional"][above].sum()),
    }


def _need_mark(liq_map: LiquidationMap, mark: float | None) -> float:
    mark = liq_map.mark if mark is None else mark
    if mark is None or not np.isfinite(mark) or mark <= 0:
        raise ValueError(f"a mark price > 0 is needed (pass mark=), got {mark}")
    return float(mark)


def cluster_summary(
    liq_map: LiquidationMap, mark: float | None = None, *, bands: tuple[float, ...] = (0.02, 0.05), **cluster_args: Any
) -> dict[str, Any]:
    """The headline numbers of a map around ``mark``: the largest cluster above (shorts) and below
    (longs) the price, as dicts of the :func:`find_clusters` columns (None when there is none), and
    the notional within each band (default ±2 % and ±5 %), keyed ``"within_2%"`` etc.

    Example
    -------
    >>> from liqsim.analysis.maps import build_map
    >>> m = build_map(np.array([96.0, 98, 100, 102, 104]), np.array([1.0, 2, 0, 0]), np.array([0, 0, 3.0, 4]))
    >>> s = cluster_summary(m, 100.0, bands=(0.02,), merge_within=0.03)
    >>> s["largest_above"]["notional"], s["largest_below"]["notional"], s["within_2%"]
    (7.0, 3.0, {'long': 2.0, 'short': 3.0})
    """
    mark = _need_mark(liq_map, mark)
    clusters = find_clusters(liq_map, mark=mark, **cluster_args)
    out: dict[str, Any] = {"mark": mark}
    for key, side, where in (("largest_above", "short", 1), ("largest_below", "long", -1)):
        pick = (clusters["side"] == side) & (np.sign(clusters["centre"] - mark) == where)
        idx = np.flatnonzero(pick)
        if len(idx) == 0:
            out[key] = None
            continue
        best = idx[np.argmax(clusters["notional"][idx])]
        out[key] = {k: (str(clusters[k][best]) if k == "side" else float(clusters[k][best])) for k in clusters}
    for band in bands:
        out[f"within_{band * 100:g}%"] = notional_within(liq_map, band, mark)
    return out


__all__ = ["find_clusters", "notional_within", "cluster_summary"]
