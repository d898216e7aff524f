"""Pictures of liquidation maps, heatmaps and indicators (matplotlib, the optional ``plot`` extra).

matplotlib is imported only when a function here is called; without it the call raises an
ImportError saying how to install it. Every function returns the matplotlib ``Figure`` (save it
with ``fig.savefig("out.png")``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .analysis.clusters import find_clusters
from .analysis.estimate import Heatmap
from .analysis.maps import LiquidationMap

if TYPE_CHECKING:
    from .simulation import SimulationResult


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "liqsim.plot needs matplotlib: pip install 'liqsim[plot]' (or pip install matplotlib)"
        ) from exc
    return plt


def liquidation_map(
    liq_map: LiquidationMap, *, mark: float | None = None, span: float | None = None, clusters: bool = True,
    ax: Any = None, **cluster_args: Any,
) -> Any:
    """Bars of liquidation notional per bucket (longs below the price in one colour, shorts above
    in another) with the cumulative curves on a second axis, the mark as a vertical line and
    clusters (:func:`liqsim.analysis.find_clusters`, each side against its own largest bucket) shaded.

    ``span`` (a fraction) limits the x axis to ``mark × (1 ± span)``. Returns the Figure.

    Example
    -------
    >>> import liqsim, liqsim.plot
    >>> m = liqsim.liquidation_map({"balance": [10.0], "side": ["long"], "qty": [1.0], "entry_price": [100.0]},
    ...                           mark=100.0)
    >>> fig = liqsim.plot.liquidation_map(m)
    """
    plt = _pyplot()
    fig, ax = (plt.subplots(figsize=(10, 5)) if ax is None else (ax.figure, ax))
    mark = liq_map.mark if mark is None else mark
    x = liq_map["price"]
    width = liq_map["price_high"] - liq_map["price_low"]
    ax.bar(x, liq_map["long_notional"], width=width, color="tab:red", alpha=0.75, label="longs liquidated")
    ax.bar(x, liq_map["short_notional"], width=width, color="tab:green", alpha=0.75, label="shorts liquidated")
    ax.set_xlabel("price")
    ax.set_ylabel("liquidation notional per bucket")
    cum = ax.twinx()
    if mark is not None:
        below, above = x <= mark, x >= mark
        cum.plot(x[below], liq_map["cum_long_notional"][below], color="darkred", lw=1.5, label="cumulative longs")
        cum.plot(x[above], liq_map["cum_short_notional"][above], color="darkgreen", lw=1.5, label="cumulative shorts")
        ax.axvline(mark, color="black", lw=1, ls="--", label=f"mark {mark:,.2f}")
        if span is not None:
            ax.set_xlim(mark * (1 - span), mark * (1 + span))
    else:
        cum.plot(x, liq_map["cum_long_notional"], color="darkred", lw=1.5, label="cumulative longs")
        cum.plot(x, liq_map["cum_short_notional"], color="darkgreen", lw=1.5, label="cumulative shorts")
    cum.set_ylabel("cumulative if price reaches")
    if clusters and len(liq_map):
        c = find_clusters(liq_map, mark=mark, **cluster_args)
        for side, lo, hi in zip(c["side"], c["price_low"], c["price_high"]):
            ax.axvspan(lo, hi, color="salmon" if side == "long" else "palegreen", alpha=0.25, lw=0)
    lines, labels = ax.get_legend_handles_labels()
    lines2, labels2 = cum.get_legend_handles_labels()
    ax.legend(lines + lines2, labels + labels2, loc="upper left", fontsize="small")
    ax.set_title(f"Liquidation map {liq_map.symbol} ({liq_map.venue})".replace(" ()", ""))
    fig.tight_layout()
    return fig


def heatmap(hm: Heatmap, *, side: str = "both", ax: Any = None, log: bool = False) -> Any:
    """Time × price picture of a :class:`liqsim.analysis.Heatmap` (estimated liquidation notional
    per bucket after each bar; ``side`` ``"long"``, ``"short"`` or ``"both"``) with the bars'
    close, high and low drawn over it. ``log=True`` colours by log(1 + notional). Returns the
    Figure.
    """
    plt = _pyplot()
    fig, ax = (plt.subplots(figsize=(11, 5)) if ax is None else (ax.figure, ax))
    if side == "both":
        grid = hm.long + hm.short
    elif side in ("long", "short"):
        grid = getattr(hm, side)
    else:
        raise ValueError(f"side must be 'long', 'short' or 'both', got {side!r}")
    values = np.log1p(grid) if log else grid
    n = len(hm.ts)
    if hm.params.get("has_ts") and n > 1:
        # Bars as time: each cell spans half-way to its neighbours.
        t = hm.ts.astype(np.float64)
        mids = (t[1:] + t[:-1]) / 2
        edges_ns = np.concatenate([[t[0] - (mids[0] - t[0])], mids, [t[-1] + (t[-1] - mids[-1])]])
        x_edges = edges_ns.astype(np.int64).astype("datetime64[ns]")
        xs = hm.ts.astype("datetime64[ns]")
        ax.set_xlabel("time (UTC)")
    else:
        x_edges = np.arange(n + 1) - 0.5
        xs = np.arange(n)
        ax.set_xlabel("bar")
    mesh = ax.pcolormesh(x_edges, hm.edges, values.T, cmap="magma", shading="flat")
    fig.colorbar(mesh, ax=ax, label=("log(1 + notional)" if log else "estimated notional per bucket"))
    ax.plot(xs, hm.close, color="cyan", lw=1.0, label="close")
    ax.fill_between(xs, hm.low, hm.high, color="cyan", alpha=0.2, lw=0)
    ax.set_ylim(hm.edges[0], hm.edges[-1])
    ax.set_ylabel("price")
    ax.set_title(f"Estimated liquidation heatmap ({side})")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def indicators(
    series: Any, *, price: str = "close", cvd: Any = None, funding: Any = None, basis_bp: Any = None,
    depth: Any = None,
) -> Any:
    """Stacked panels over one time axis: price with open interest (when the table has
    ``open_interest``), funding (annualised, % p.a.) and/or basis (bp), CVD, and book depth
    (``bid_depth``/``ask_depth`` columns or ``depth=(bid, ask)``). Panels without data are left
    out. ``series`` is a bar or series table (mapping of arrays or anything Arrow-like);
    ``cvd``, ``funding``, ``basis_bp`` override what would be read from it. Returns the Figure.
    """
    from ._tables import as_table

    plt = _pyplot()
    t = as_table(series, "series")

    def col(name: str) -> np.ndarray | None:
        if name not in t.column_names:
            return None
        return np.asarray(t.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

    p = col(price)
    if p is None:
        raise ValueError(f"series: no {price!r} column (columns: {t.column_names})")
    x = np.arange(len(p))
    oi = col("open_interest")
    if cvd is None:
        cvd = col("cvd")
    if funding is None:
        funding = col("funding_annualized")
    if basis_bp is None:
        basis_bp = col("basis_bp")
    if depth is None and col("bid_depth") is not None and col("ask_depth") is not None:
        depth = (col("bid_depth"), col("ask_depth"))
    panels = ["price"] + [k for k, v in (("carry", funding if funding is not None else basis_bp), ("cvd", cvd),
                                         ("depth", depth)) if v is not None]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.4 * len(panels)), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, panel in zip(axes, panels):
        if panel == "price":
            ax.plot(x, p, color="black", lw=1, label=price)
            ax.set_ylabel("price")
            if oi is not None:
                ax2 = ax.twinx()
                ax2.plot(x, oi, color="tab:blue", lw=1, label="open interest")
                ax2.set_ylabel("open interest", color="tab:blue")
        elif panel == "carry":
            if funding is not None:
                ax.plot(x, np.asarray(funding) * 100, color="tab:purple", lw=1, label="funding % p.a.")
                ax.set_ylabel("funding % p.a.")
            if basis_bp is not None:
                target = ax.twinx() if funding is not None else ax
                target.plot(x, np.asarray(basis_bp), color="tab:orange", lw=1, label="basis bp")
                target.set_ylabel("basis (bp)")
            ax.axhline(0, color="grey", lw=0.5)
        elif panel == "cvd":
            ax.plot(x, np.asarray(cvd), color="tab:green", lw=1)
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_ylabel("CVD")
        elif panel == "depth":
            bid, ask = depth
            ax.plot(x, np.asarray(bid), color="tab:green", lw=1, label="bid depth")
            ax.plot(x, np.asarray(ask), color="tab:red", lw=1, label="ask depth")
            ax.set_ylabel("depth")
            ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel("row")
    fig.tight_layout()
    return fig


def _seconds(result: SimulationResult, ts: np.ndarray) -> np.ndarray:
    return (np.asarray(ts, dtype=np.int64) - result.scenario.start) / 1e9


def _save(fig: Any, path: str | os.PathLike[str] | None, dpi: int) -> None:
    if path is not None:
        fig.savefig(path, dpi=dpi)


def cascade(result: SimulationResult, *, path: str | os.PathLike[str] | None = None, title: str | None = None,
            dpi: int = 72) -> Any:
    """The cascade of one run (:class:`liqsim.SimulationResult`), five panels over seconds from the
    start: last, mark and index prices with every liquidation as a marker at its fill price (area ∝
    notional; shorts ▲ green, longs ▼ red); liquidated notional per second by side (quote); open
    interest (base units); book depth within 1 % of mid per side (quote); insurance fund (quote).
    ``path`` also saves it (PNG, ``dpi``). Returns the Figure.

    Example
    -------
    >>> import liqsim
    >>> res = liqsim.simulate(liqsim.scenarios.load("eth-4k-squeeze"))
    >>> fig = liqsim.plot.cascade(res)       # or res.plot(path="cascade.png")
    >>> len(fig.axes)
    5
    """
    plt = _pyplot()
    s = result.series
    x = _seconds(result, s["ts"])
    dt = result.scenario.sample_every / 1e9
    fig, axes = plt.subplots(5, 1, figsize=(9, 10), sharex=True, gridspec_kw={"height_ratios": [3, 1.4, 1, 1, 1]})
    ax = axes[0]
    ax.plot(x, s["index"], color="tab:blue", lw=1, label="index")
    ax.plot(x, s["mark"], color="tab:orange", lw=1, label="mark")
    ax.plot(x, s["last"], color="black", lw=0.8, label="last")
    liq = result.liquidations
    if len(liq):
        price = np.where(np.isnan(liq["avg_fill_price"]), liq["bankruptcy_price"], liq["avg_fill_price"])
        notional = liq["notional"]
        size = 4 + 150 * notional / notional.max()
        lx = _seconds(result, liq["ts"])
        for side, marker, colour in (("short", "^", "tab:green"), ("long", "v", "tab:red")):
            sel = liq["side"] == side
            if sel.any():
                ax.scatter(lx[sel], price[sel], s=size[sel], marker=marker, color=colour, alpha=0.35, lw=0,
                           label=f"{side}s liquidated")
    ax.set_ylabel("price")
    ax.legend(loc="best", fontsize="small", ncol=2)
    if title is not None:
        ax.set_title(title, fontsize="medium")
    ax = axes[1]
    for column, colour, label in (("liquidated_short", "tab:green", "shorts"), ("liquidated_long", "tab:red", "longs")):
        per_s = np.diff(np.asarray(s[column], dtype=np.float64), prepend=0.0) / dt
        ax.fill_between(x, per_s, step="pre", color=colour, alpha=0.6, label=label)
    ax.set_ylabel("liquidated\nper second")
    ax.legend(loc="upper left", fontsize="small")
    axes[2].plot(x, s["open_interest"], color="tab:purple", lw=1)
    axes[2].set_ylabel("open interest\n(base)")
    axes[3].plot(x, s["bid_depth_1pct"], color="tab:green", lw=1, label="bids")
    axes[3].plot(x, s["ask_depth_1pct"], color="tab:red", lw=1, label="asks")
    axes[3].set_ylabel("depth ±1%")
    axes[3].legend(loc="upper left", fontsize="small")
    axes[4].plot(x, s["insurance_fund"], color="tab:brown", lw=1)
    axes[4].set_ylabel("insurance\nfund")
    axes[4].set_xlabel("seconds from start")
    fig.tight_layout()
    _save(fig, path, dpi)
    return fig


def compare(a: SimulationResult, b: SimulationResult, *, labels: tuple[str, str] = ("a", "b"),
            path: str | os.PathLike[str] | None = None, title: str | None = None, dpi: int = 72) -> Any:
    """Two runs side by side over seconds from their starts (e.g. makers that refill vs makers that
    pull): last price, liquidated notional so far (both sides, quote), and book depth within 1 % of
    mid (both sides, quote). ``path`` also saves it. Returns the Figure.

    Example
    -------
    >>> import liqsim, dataclasses
    >>> scn = liqsim.scenarios.load("eth-4k-squeeze")
    >>> maker = dataclasses.replace(scn.agents[0], pull_move=0.01, pull_window=30.0)
    >>> pulled = scn.replace(agents=[maker, *scn.agents[1:]])
    >>> fig = liqsim.plot.compare(liqsim.simulate(scn), liqsim.simulate(pulled), labels=("refill", "pull"))
    """
    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    for result, label, colour in ((a, labels[0], "tab:blue"), (b, labels[1], "tab:red")):
        s = result.series
        x = _seconds(result, s["ts"])
        axes[0].plot(x, s["last"], color=colour, lw=1, label=label)
        axes[1].plot(x, np.asarray(s["liquidated_long"]) + np.asarray(s["liquidated_short"]), color=colour, lw=1, label=label)
        axes[2].plot(x, np.asarray(s["bid_depth_1pct"]) + np.asarray(s["ask_depth_1pct"]), color=colour, lw=1, label=label)
    axes[0].set_ylabel("last price")
    axes[1].set_ylabel("liquidated\nso far")
    axes[2].set_ylabel("depth ±1%\n(both sides)")
    axes[2].set_xlabel("seconds from start")
    axes[0].legend(loc="best", fontsize="small")
    if title is not None:
        axes[0].set_title(title, fontsize="medium")
    fig.tight_layout()
    _save(fig, path, dpi)
    return fig




def sweep(table: Any, *, x: str, y: str, by: str | None = None, ax: Any = None) -> Any:
    """Lines of a :func:`liqsim.sweep` table: the median of column ``y`` against column ``x``
    across seeds, one line per value of ``by`` (e.g. a maker rule), the min–max band shaded.
    Runs with an error are left out. Returns the Figure.

    >>> fig = liqsim.plot.sweep(runs, x="shock_qty", y="liquidated_short_notional",
    ...                         by="agents.market_maker.pull_move")  # doctest: +SKIP
    """
    plt = _pyplot()
    names = list(getattr(table, "column_names", []))
    for role, column in (("x", x), ("y", y), ("by", by)):
        if column is not None and column not in names:
            raise ValueError(f"{role}={column!r} is not a column of the table; columns: {names}")
    ok = np.asarray(table.column("error").is_null().to_numpy(zero_copy_only=False), dtype=bool)
    xs = np.asarray(table.column(x).to_numpy(zero_copy_only=False))[ok]
    ys = np.asarray(table.column(y).to_numpy(zero_copy_only=False), dtype=np.float64)[ok]
    groups = np.asarray(table.column(by).to_numpy(zero_copy_only=False))[ok] if by is not None else np.zeros(len(xs))
    fig, ax = (plt.subplots(figsize=(8, 4.5)) if ax is None else (ax.figure, ax))
    for g in np.unique(groups):
        mask = groups == g
        levels = np.unique(xs[mask])
        per_x = [ys[mask & (xs == v)] for v in levels]
        med = np.array([np.median(v) for v in per_x])
        line = ax.plot(levels, med, marker="o", label=f"{by} = {g}" if by is not None else y)[0]
        if any(len(v) > 1 for v in per_x):
            ax.fill_between(levels, [v.min() for v in per_x], [v.max() for v in per_x], color=line.get_color(),
                            alpha=0.2, lw=0)
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y} (median across seeds)")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig




__all__ = ["cascade", "compare", "heatmap", "indicators", "liquidation_map", "sweep"]
