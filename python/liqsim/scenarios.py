"""Scenarios of reported squeezes, and a builder for your own.

- :func:`build` makes a :class:`liqsim.Scenario` from a few market figures: a book with a concave
  depth profile, a population of leveraged accounts, and clusters of positions placed by their
  liquidation price (exactly, with the venue's formula).
- :func:`names` / :func:`load` give the built-in scenarios, one per reported event
  (``shared/REFERENCE.md`` §5): ``eth-4k-squeeze`` (the default), ``eth-6b-short-wall``,
  ``eth-pectra-rally``, ``btc-95k-breakout``, ``btc-93k-rejection``, and one driven by real data,
  ``depth-collapse-2025-10-10`` (:func:`depth_collapse_2025_10_10`). :func:`describe` says what was
  reported and what each assumes.
- :func:`eth_short_squeeze` / :func:`build_exchange`: the older one-shot demo market (plain
  tables for :class:`liqsim.Exchange`), kept for the analysis tour.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

import liqsim

from . import _core
from . import agents as _agents
from ._choices import did_you_mean
from .errors import ConfigError
from .exchange import Exchange
from .margin import maintenance_margin
from .scenario import Scenario, real_book

#: Default leverage mix by share of open interest, MODELS.md §4: bimodal — most open interest at
#: 2–5x, a tail at 20–100x where most liquidations come from.
LEVERAGE_MIX: tuple[tuple[int, float], ...] = ((2, 0.30), (3, 0.20), (5, 0.25), (10, 0.10), (20, 0.07), (50, 0.05), (100, 0.03))
#: Trader ids: population accounts from 1, cluster accounts from 10,000,000 (one million per cluster).
CLUSTER_ID_BASE = 10_000_000


def _config_error(parameter: str, message: str) -> ConfigError:
    err = ConfigError(message)
    err.parameter = parameter
    return err


@dataclass(frozen=True)
class Cluster:
    """Positions stacked so that their liquidation prices lie between ``low`` and ``high``.

    ``notional`` (quote currency, at entry) is split over ``accounts`` positions with log-normal
    sizes; each gets a liquidation price uniform in the band and a leverage drawn log-uniformly
    from ``leverage`` (low, high); the entry follows from the two (a short at 25x liquidated at
    4,000 entered near 4,000 / (1 + 1/25)), and the balance that puts the liquidation price
    exactly there comes from the venue's formula in closed form (no search).
    ``isolated_share`` of them are isolated-margin positions.

    >>> Cluster("short", 331e6, 3800, 4000).notional
    331000000.0
    """

    side: Literal["long", "short"]
    notional: float
    low: float
    high: float
    accounts: int = 400
    leverage: tuple[float, float] = (10.0, 50.0)
    isolated_share: float = 0.3


def _as_cluster(c: Cluster | Mapping[str, Any], k: int) -> Cluster:
    if isinstance(c, Cluster):
        cl = c
    elif isinstance(c, Mapping):
        fields = [f.name for f in dataclasses.fields(Cluster)]
        for key in c:
            if key not in fields:
                raise _config_error(f"clusters[{k}]", f"clusters[{k}] has no field {key!r}{did_you_mean(str(key), fields)}; fields: {fields}")
        missing = [f for f in ("side", "notional", "low", "high") if f not in c]
        if missing:
            raise _config_error(f"clusters[{k}]", f"clusters[{k}] needs {missing}")
        cl = Cluster(**c)
    else:
        raise _config_error(f"clusters[{k}]", f"clusters[{k}] must be a liqsim.scenarios.Cluster or a dict, got {type(c).__name__}")
    if cl.side not in ("long", "short"):
        raise _config_error(f"clusters[{k}].side", f"clusters[{k}].side must be 'long' or 'short', got {cl.side!r}")
    if not (math.isfinite(cl.notional) and cl.notional > 0):
        raise _config_error(f"clusters[{k}].notional", f"clusters[{k}].notional must be > 0 (quote), got {cl.notional!r}")
    if not (0 < cl.low < cl.high and math.isfinite(cl.high)):
        raise _config_error(f"clusters[{k}].low", f"clusters[{k}] needs 0 < low < high, got {cl.low!r} … {cl.high!r}")
    if not (isinstance(cl.accounts, (int, np.integer)) and 1 <= cl.accounts <= 1_000_000):
        raise _config_error(f"clusters[{k}].accounts", f"clusters[{k}].accounts must be 1 … 1,000,000, got {cl.accounts!r}")
    lo, hi = cl.leverage
    if not (1 < lo <= hi <= 125):
        raise _config_error(f"clusters[{k}].leverage", f"clusters[{k}].leverage must be (low, high) within (1, 125], got {cl.leverage!r}")
    return cl


def _profile_book(price: float, tick: float, lot: float, depth_10bp: float, beta: float, reach: float,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Static levels on the tick grid: cumulative quote depth per side within x of ``price`` is
    depth_10bp·(x / 10 bp)^beta, levels one tick apart at the touch spreading out to ``reach``."""
    mid_ticks = round(price / tick)
    dist = np.unique(np.round(np.geomspace(1, reach * price / tick, 400)).astype(np.int64))
    x = dist * tick / price
    cum_quote = depth_10bp * (x / 1e-3) ** beta
    level_quote = np.diff(np.concatenate([[0.0], cum_quote]))
    out: dict[str, list[Any]] = {"side": [], "price": [], "qty": []}
    for side, sign in (("bid", -1), ("ask", 1)):
        prices = (mid_ticks + sign * dist) * tick
        qty = np.floor(level_quote * rng.uniform(0.85, 1.15, len(dist)) / prices / lot) * lot
        keep = (qty > 0) & (prices > 0)
        out["side"] += [side] * int(keep.sum())
        out["price"] += list(np.round(prices[keep], 10))
        out["qty"] += list(np.round(qty[keep], 10))
    return {k: np.asarray(v) for k, v in out.items()}


def _split(total: float, n: int, rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
    """``total`` split into ``n`` log-normal parts that sum to it."""
    w = rng.lognormal(0.0, sigma, n)
    parts: np.ndarray = total * w / w.sum()
    return parts


def build(
    symbol: str = "ETHUSDT",
    venue: str = "binance",
    price: float | None = None,
    depth_10bp: float = 3e6,
    beta: float = 0.65,
    maker_share: float = 1.0,
    open_interest: float = 500e6,
    long_share: float = 0.5,
    leverage_mix: Sequence[tuple[float, float]] = LEVERAGE_MIX,
    entry_spread: float = 0.03,
    isolated_share: float = 0.3,
    population: int = 2000,
    clusters: Sequence[Cluster | Mapping[str, Any]] = (),
    index_path: Sequence[tuple[float, float]] | None = None,
    orders: object | None = None,
    agents: Sequence[Any] | None = None,
    duration: float = 600.0,
    sample_every: float = 1.0,
    insurance_fund: float = 10e6,
    mark_rule: str | None = None,
    tick_size: float | None = None,
    lot_size: float | None = None,
    book: object | None = None,
    seed: int = 7,
) -> Scenario:
    """A :class:`liqsim.Scenario` from market figures.

    Parameters
    ----------
    symbol, venue : str
        The instrument and whose margin rules apply (``binance``, ``bybit``, ``hyperliquid``, ``dydx``).
    price : float
        Starting price (index, and the centre of the book), quote currency; default 3,000, or the
        mid of ``book``.
    depth_10bp, beta : float
        Book depth per side: cumulative quote within distance x of the price is
        ``depth_10bp × (x / 10 bp)^beta`` (MODELS.md §1: β ≈ 0.65; a Binance-like BTC perp has $2–4M
        within 10 bp). ``maker_share`` of it is a :class:`liqsim.agents.MarketMaker` quoting around
        the index (it refills and follows); the rest is static liquidity on the tick grid out to
        ±10 % (it does not come back once taken).
    open_interest : float
        Notional (quote, at entry) of the background population of ``population`` accounts,
        ``long_share`` of it long; sizes log-normal.
    leverage_mix : (leverage, share of open interest) pairs
        Default :data:`LEVERAGE_MIX` (bimodal, MODELS.md §4).
    entry_spread : float
        Population entries are ``price × exp(entry_spread × N(0, 1))``; an entry that would leave a
        position liquidatable at the start is moved to ``price``.
    isolated_share : float
        Share of population accounts in isolated margin (the rest cross, holding one position).
    clusters : list of :class:`Cluster` (or dicts of its fields)
        Positions placed by liquidation price: "$331M of shorts between 3,800 and 4,000" is
        ``Cluster("short", 331e6, 3800, 4000)``. A band must lie on the safe side of ``price``.
    index_path : (seconds from start, price) pairs, optional
        The index (spot) path, linear between points, sampled every second; default flat at ``price``.
    orders : table, optional
        Exogenous orders (see :class:`liqsim.Scenario`), e.g. a taker buying through the offers.
    agents : list, optional
        Replaces the default agents (the maker above plus a :class:`~liqsim.agents.NoiseTaker`).
    duration, sample_every : float
        Seconds simulated, and the interval of the result's series.
    insurance_fund, mark_rule, tick_size, lot_size
        Passed to the market (:class:`liqsim.Exchange`). Tick and lot default to 0.01 and 0.001,
        or to the grid of ``book``.
    book : table, optional
        A real order book to start from (:meth:`liqsim.io.L2Replay.book_at`, or any table of
        ``side``, ``price``, ``qty``): its levels are the starting liquidity in the place of the
        synthetic profile (``depth_10bp``, ``beta`` and ``maker_share`` are then unused), tick and
        lot come from its levels (:func:`liqsim.scenario.real_book`; a level off a given grid
        raises :class:`liqsim.ScenarioError` naming the row), and ``price`` is its mid rounded to
        the tick. Population entries and cluster bands are relative to that mid. The default
        agents are the noise taker only: a real book does not refill (add a
        :class:`~liqsim.agents.MarketMaker` in ``agents`` for that).
    seed : int
        One seed for the build and the run.

    Example
    -------
    >>> import liqsim
    >>> scn = liqsim.scenarios.build(price=3750.0, open_interest=50e6, population=200,
    ...     clusters=[liqsim.scenarios.Cluster("short", 20e6, 3800, 4000, accounts=50)], duration=30.0)
    >>> acc = scn.accounts.to_pydict()
    >>> len(acc["trader_id"])
    250
    """
    rng = np.random.default_rng(seed)
    real: dict[str, np.ndarray] | None = None
    if book is not None:
        real, tick_size, lot_size, best_bid, best_ask = real_book(book, tick_size, lot_size)
        if price is None:
            price = (best_bid + best_ask) / 2
        elif not best_bid <= price <= best_ask:
            raise _config_error("price", f"price {price!r} is outside the book's touch {best_bid} … {best_ask}")
    price = 3000.0 if price is None else price
    tick_size = 0.01 if tick_size is None else tick_size
    lot_size = 0.001 if lot_size is None else lot_size
    for name, value in (("price", price), ("depth_10bp", depth_10bp), ("duration", duration),
                        ("tick_size", tick_size), ("lot_size", lot_size)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise _config_error(name, f"{name} must be a finite number > 0, got {value!r}")
    for name, value in (("maker_share", maker_share), ("long_share", long_share), ("isolated_share", isolated_share)):
        if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
            raise _config_error(name, f"{name} must be a fraction in [0, 1], got {value!r}")
    if not (isinstance(open_interest, (int, float)) and open_interest >= 0):
        raise _config_error("open_interest", f"open_interest must be ≥ 0 (quote), got {open_interest!r}")
    if not (isinstance(population, (int, np.integer)) and 0 <= population <= CLUSTER_ID_BASE - 1):
        raise _config_error("population", f"population must be a count ≥ 0, got {population!r}")
    mix = [(float(l), float(w)) for l, w in leverage_mix]
    if not mix or any(not (1 <= l <= 125) or w < 0 for l, w in mix) or sum(w for _, w in mix) <= 0:
        raise _config_error("leverage_mix", f"leverage_mix must be (leverage 1…125, weight ≥ 0) pairs, got {leverage_mix!r}")
    price = round(price / tick_size) * tick_size

    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("trader_id", "balance", "margin_mode", "side", "qty",
                                                            "entry_price", "leverage", "isolated_margin")}

    def add(ids: np.ndarray, sign: np.ndarray, qty: np.ndarray, entry: np.ndarray, margin: np.ndarray,
            isolated: np.ndarray, leverage: np.ndarray) -> None:
        notional = qty * entry
        columns["trader_id"].append(ids)
        columns["balance"].append(np.where(isolated, 0.0, margin))
        columns["margin_mode"].append(np.where(isolated, "isolated", "cross"))
        columns["side"].append(np.where(sign > 0, "long", "short"))
        columns["qty"].append(qty)
        columns["entry_price"].append(entry)
        # The account's leverage setting: what it opened at, within what the tier of its notional allows.
        allowed = _core.max_leverages(np.ascontiguousarray(notional, dtype=np.float64), venue, symbol)
        columns["leverage"].append(np.clip(np.round(leverage), 1, allowed).astype(np.int64))
        columns["isolated_margin"].append(np.where(isolated, margin, np.nan))

    # --- the population --------------------------------------------------------------------------
    if population and open_interest > 0:
        n = int(population)
        sign = np.where(rng.random(n) < long_share, 1, -1)
        notional = np.zeros(n)
        for s, share in ((1, long_share), (-1, 1 - long_share)):
            sel = sign == s
            if sel.any():
                notional[sel] = _split(open_interest * share, int(sel.sum()), rng)
        levs = np.array([l for l, _ in mix])
        weights = np.array([w for _, w in mix]) / sum(w for _, w in mix)
        lev = rng.choice(levs, size=n, p=weights)
        entry = np.round(price * np.exp(entry_spread * rng.standard_normal(n)) / tick_size) * tick_size
        qty = np.maximum(np.round(notional / entry / lot_size), 1) * lot_size
        # Margin a little above initial (traders keep some buffer).
        margin = np.round(qty * entry / lev * rng.uniform(1.0, 1.3, n), 2)
        isolated = rng.random(n) < isolated_share
        side = np.where(sign > 0, "long", "short")
        lp = liqsim.liquidation_price(side, qty, entry, margin, venue=venue, symbol=symbol)
        crossed = np.where(sign > 0, lp >= price * 0.999, lp <= price * 1.001)
        entry = np.where(crossed, price, entry)
        # Re-margined at the leverage its tier allows (a $20M BTC position cannot stand at 100x: at
        # 1.3 % margin it would start below its tier's maintenance rate).
        allowed = _core.max_leverages(np.ascontiguousarray(qty * price, dtype=np.float64), venue, symbol)
        margin = np.where(crossed, np.round(qty * price / np.minimum(lev, allowed) * 1.3, 2), margin)
        add(np.arange(1, n + 1), sign, qty, entry, margin, isolated, lev)

    # --- the clusters ---------------------------------------------------------------------------
    for k, raw in enumerate(clusters):
        cl = _as_cluster(raw, k)
        s = 1 if cl.side == "long" else -1
        safe = cl.high < price if s > 0 else cl.low > price
        if not safe:
            raise _config_error(
                f"clusters[{k}]",
                f"clusters[{k}]: {cl.side}s liquidated between {cl.low:,} and {cl.high:,} would already be liquidated at "
                f"the price {price:,} (a {cl.side} cluster's band must be {'below' if s > 0 else 'above'} it)",
            )
        n = int(cl.accounts)
        # Liquidation prices strictly inside the band (a cent of rounding must not push one out).
        inner = (cl.high - cl.low) * 1e-4
        lp = rng.uniform(cl.low + inner, cl.high - inner, n)
        lev = np.exp(rng.uniform(math.log(cl.leverage[0]), math.log(cl.leverage[1]), n))
        # Entry such that the margin is about notional / leverage: liquidated ~1/L away (less MMR).
        entry = np.round(lp / (1 - s / lev) / tick_size) * tick_size
        qty = np.maximum(np.round(_split(cl.notional, n, rng) / entry / lot_size), 1) * lot_size
        balance = _core.balances_for_liquidation_prices(
            np.ascontiguousarray(s * qty), np.ascontiguousarray(entry), np.ascontiguousarray(lp), venue, symbol
        )
        if np.isnan(balance).any():
            raise _config_error(f"clusters[{k}]", f"clusters[{k}]: no positive balance places a {cl.side} there (leverage {cl.leverage})")
        isolated = rng.random(n) < cl.isolated_share
        add(CLUSTER_ID_BASE * (k + 1) + np.arange(n), np.full(n, s), qty, entry, balance, isolated, lev)

    accounts = {k: np.concatenate(v) if v else np.zeros(0) for k, v in columns.items()}

    # --- book, index, agents --------------------------------------------------------------------
    start_book: dict[str, np.ndarray] | None = real
    if real is None and maker_share < 1.0:
        start_book = _profile_book(price, tick_size, lot_size, depth_10bp * (1 - maker_share), beta, 0.10, rng)
    if index_path is None:
        index = {"ts": np.array([0], dtype=np.int64), "price": np.array([price])}
    else:
        pts = np.asarray(index_path, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or pts[0, 0] != 0 or np.any(np.diff(pts[:, 0]) <= 0) \
                or np.any(pts[:, 1] <= 0) or pts[-1, 0] > duration:
            raise _config_error("index_path", "index_path must be (seconds, price) pairs from 0 s, increasing, within duration, prices > 0")
        t = np.arange(0, int(pts[-1, 0]) + 1, dtype=np.float64)
        index = {"ts": (t * 1e9).astype(np.int64), "price": np.round(np.interp(t, pts[:, 0], pts[:, 1]) / tick_size) * tick_size}
    if agents is None and real is not None:
        agents = [_agents.NoiseTaker(rate_per_s=2.0, size_min=2_000.0)]
    if agents is None:
        agents = [_agents.MarketMaker(reference="index", depth_10bp=depth_10bp * maker_share, beta=beta,
                                      levels=120, level_spacing_bp=2.0, refill_half_life=20.0),
                  _agents.NoiseTaker(rate_per_s=2.0, size_min=2_000.0)]
        if maker_share == 0.0:
            agents = agents[1:]
    market: dict[str, Any] = {"venue": venue, "symbol": symbol, "tick_size": tick_size, "lot_size": lot_size,
                              "insurance_fund": insurance_fund}
    if mark_rule is not None:
        market["mark_rule"] = mark_rule
    return Scenario(market=market, book=start_book, accounts=accounts, orders=orders, index=index, agents=agents,
                    end=float(duration), sample_every=sample_every, seed=seed)


# --- built-in scenarios -----------------------------------------------------------------------------
# Reported figures (shared/REFERENCE.md §5) are across all venues; each scenario says how it maps them.


@dataclass(frozen=True)
class Builtin:
    """A built-in scenario: its name, the reported figures it reproduces, and how it maps them."""

    name: str
    title: str
    reported: str
    description: str
    #: Reported liquidated notional (quote) of the side that was squeezed, or the stacked notional
    #: at risk for the two "at risk" headlines.
    reported_liquidations: float
    squeezed_side: Literal["long", "short"]
    #: Reported price move in %, None when the report gives none.
    reported_move_pct: float | None


def _eth_4k_squeeze(seed: int) -> Scenario:
    return build(
        symbol="ETHUSDT", price=3750.0, depth_10bp=6e6, open_interest=400e6, long_share=0.55,
        clusters=[Cluster("short", 331e6, 3800.0, 4000.0, accounts=600, leverage=(10.0, 50.0))],
        index_path=[(0, 3750.0), (30, 3750.0), (150, 3900.0), (240, 4050.0), (300, 4060.0)],
        duration=300.0, insurance_fund=20e6, seed=seed,
    )


def _eth_6b_short_wall(seed: int) -> Scenario:
    return build(
        symbol="ETHUSDT", price=4025.0, depth_10bp=25e6, open_interest=2e9, long_share=0.5, population=3000,
        clusters=[Cluster("short", 6e9, 4600.0, 4800.0, accounts=3000, leverage=(5.0, 25.0))],
        index_path=[(0, 4025.0), (30, 4025.0), (270, 4700.0), (300, 4700.0)],
        duration=300.0, insurance_fund=200e6, seed=seed,
    )


def _eth_pectra_rally(seed: int) -> Scenario:
    return build(
        symbol="ETHUSDT", price=1667.0, depth_10bp=8e6, open_interest=600e6, long_share=0.45, entry_spread=0.02,
        clusters=[Cluster("short", 240e6, 1700.0, 1990.0, accounts=800, leverage=(5.0, 50.0))],
        index_path=[(0, 1667.0), (30, 1667.0), (270, 2000.0), (300, 2000.0)],
        duration=300.0, insurance_fund=50e6, seed=seed,
    )


def _btc_95k_breakout(seed: int) -> Scenario:
    return build(
        symbol="BTCUSDT", price=95000.0, depth_10bp=15e6, open_interest=1.5e9, long_share=0.45, entry_spread=0.01,
        clusters=[Cluster("short", 300e6, 95300.0, 97700.0, accounts=800, leverage=(10.0, 75.0))],
        index_path=[(0, 95000.0), (30, 95000.0), (240, 97800.0), (300, 97800.0)],
        duration=300.0, insurance_fund=100e6, tick_size=0.1, seed=seed,
    )


def _btc_93k_rejection(seed: int) -> Scenario:
    return build(
        symbol="BTCUSDT", price=93000.0, depth_10bp=15e6, open_interest=1.5e9, long_share=0.55, entry_spread=0.01,
        clusters=[Cluster("long", 110e6, 90500.0, 92500.0, accounts=600, leverage=(10.0, 75.0))],
        index_path=[(0, 93000.0), (60, 93850.0), (120, 93300.0), (240, 90800.0), (300, 91000.0)],
        duration=300.0, insurance_fund=100e6, tick_size=0.1, seed=seed,
    )


# --- 2025-10-10: the real depth collapse -------------------------------------------------------------

#: The packaged derived table: the +1% ask band of Binance's BTCUSDT bookDepth archive of 2025-10-10
#: (source and licence note in liqsim/data/README.md).
DEPTH_BANDS_2025_10_10 = Path(__file__).parent / "data" / "btcusdt_ask_depth_1pct_2025-10-10.csv"
#: 21:00:07 UTC, the band snapshot the scenario starts at (ns since the epoch).
COLLAPSE_START_NS = 1_760_130_007_000_000_000
#: Seconds simulated from COLLAPSE_START_NS: to 21:30:07 UTC.
COLLAPSE_SECONDS = 1800
#: Shape of the maker's profile within 1 % (MODELS.md §1: β ≈ 0.65); the bands start at 1 %, so
#: the shape inside 1 % is assumed, not measured.
COLLAPSE_BETA = 0.65
#: Estimate of mid from the +1 % band's depth-weighted price: that price lies between mid and
#: mid × 1.01; the middle of the band is assumed.
COLLAPSE_WAP_OFFSET = 0.005


def depth_bands_2025_10_10(path: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """The ask depth within +1 % of Binance BTCUSDT on 2025-10-10, one row per snapshot (~30 s).

    Returns ``ts`` (ns since the epoch, UTC), ``notional`` (quote, USDT, within +1 % of mid) and
    ``weighted_avg_price`` (the band's depth-weighted price). By default from the small table
    packaged with liqsim; with ``path``, from Binance's archive file ``BTCUSDT-bookDepth-2025-10-10.csv``
    read with :func:`liqsim.io.read_binance_book_depth` (``drop_side="bid"``: from 15:30:42 the
    file's bid bands carry a stale 17.654 BTC bid near 121,363 and are anchored to it).

    >>> bands = liqsim.scenarios.depth_bands_2025_10_10()
    >>> round(float(np.median(bands["notional"])) / 1e6)
    244
    """
    if path is None:
        raw = np.loadtxt(DEPTH_BANDS_2025_10_10, delimiter=",", skiprows=1, dtype=np.float64,
                         converters={0: lambda v: float(np.datetime64(v, "s").astype(np.int64))}, encoding="ascii")
        return {"ts": raw[:, 0].astype(np.int64) * 1_000_000_000, "notional": raw[:, 1], "weighted_avg_price": raw[:, 2]}
    from .io import read_binance_book_depth

    t = read_binance_book_depth(path, drop_side="bid")
    one = np.asarray(t["percentage"]) == 1
    return {
        "ts": np.asarray(t["ts"]).astype(np.int64)[one],
        "notional": np.asarray(t["notional"], dtype=np.float64)[one],
        "weighted_avg_price": np.asarray(t["weighted_avg_price"], dtype=np.float64)[one],
    }


def depth_collapse_2025_10_10(seed: int = 7, path: str | os.PathLike[str] | None = None) -> Scenario:
    """BTCUSDT from 21:00:07 to 21:30:07 UTC on 2025-10-10, the largest liquidation day on record,
    with the real depth: a :class:`liqsim.agents.MarketMaker` whose profile follows the +1 % ask band
    of Binance's depth archive snapshot by snapshot (``depth_schedule``), against an assumed
    population of leveraged longs and an index that falls as the real mid did.

    Real (Binance BTCUSDT bookDepth archive, :func:`depth_bands_2025_10_10`): the depth within 1 %
    (its day median, $244M, is the maker's full profile; each snapshot scales it: $249M at 21:00,
    $57M at 21:22:31) and the mid path, estimated as the band's depth-weighted price less 0.5 %
    (116,000 → 108,000 at the low snapshot → 112,000). Assumed: both sides thin alike (the file's bid
    bands are stale from 15:30, so the ask band stands for both); the profile's shape inside 1 %
    (β = 0.65); the population — $8B of background open interest, 65 % long, with the bimodal
    leverage mix — and $1.5B of longs stacked with liquidation prices between 104,000 and 114,000
    (10–50x); the mid between snapshots (linear; the wick's low is not in the data). t = 0 is
    21:00:07 UTC. ``path``: read the bands from Binance's file instead of the packaged table.

    >>> scn = liqsim.scenarios.depth_collapse_2025_10_10()      # doctest: +SKIP
    >>> liqsim.simulate(scn).summary()["liquidated_long_notional"]  # doctest: +SKIP
    """
    bands = depth_bands_2025_10_10(path)
    ts, notional = bands["ts"], bands["notional"]
    median = float(np.median(notional))
    first = int(np.flatnonzero(ts <= COLLAPSE_START_NS)[-1])
    last = int(np.flatnonzero(ts <= COLLAPSE_START_NS + COLLAPSE_SECONDS * 1_000_000_000)[-1])
    rows = slice(first, last + 1)
    offset = np.maximum(ts[rows] - COLLAPSE_START_NS, 0) / 1e9  # the first row applies from t = 0
    mid = bands["weighted_avg_price"][rows] / (1 + COLLAPSE_WAP_OFFSET)
    scale = notional[rows] / median
    # The maker's profile within 1 %: levels at 1, 3, …, 99 bp hold D₁₀·(9.9)^β; that is the median.
    depth_10bp = median / (99.0 / 10.0) ** COLLAPSE_BETA
    maker = _agents.MarketMaker(
        reference="index", depth_10bp=depth_10bp, beta=COLLAPSE_BETA, levels=120, level_spacing_bp=2.0,
        refill_half_life=20.0, depth_schedule=[(float(o), float(x), float(x)) for o, x in zip(offset, scale)],
    )
    path_points = [(float(o), float(round(m, 1))) for o, m in zip(offset, mid)]
    return build(
        symbol="BTCUSDT", price=path_points[0][1], open_interest=8e9, long_share=0.65, population=3000,
        entry_spread=0.02,
        clusters=[Cluster("long", 1.5e9, 104_000.0, 114_000.0, accounts=2000, leverage=(10.0, 50.0))],
        index_path=path_points, agents=[maker, _agents.NoiseTaker(rate_per_s=2.0, size_min=2_000.0)],
        duration=float(COLLAPSE_SECONDS), insurance_fund=500e6, tick_size=0.1, seed=seed,
    )


#: BTC and ETH at the start of the spill-over scenarios (quote).
SPILLOVER_BTC, SPILLOVER_ETH = 95_000.0, 3_300.0


def btc_eth_spillover(seed: int = 7, margin: Literal["cross", "isolated"] = "cross", accounts: int = 2000) -> Scenario:
    """BTC and ETH on one Binance-rules venue: a BTC breakout (+4 % in four minutes, spot-led)
    squeezes traders short both BTC and ETH; with ``margin="cross"`` each is one cross account,
    so the BTC losses push it under maintenance and its ETH short is liquidated too, with ETH's
    index flat; with ``"isolated"`` the same positions are two isolated ones (the money split in
    proportion to the notionals) and the ETH shorts survive.

    ``accounts`` traders are short BTC (log-normal, median $60k) and ETH (0.4–1.2 × the BTC
    notional); each one's money puts its cross account at maintenance when BTC is up 1.5–3.5 %
    (uniform; ETH flat), exactly with the venue's tiers. The other side of every position is one
    long account per market. Agents: a maker per book quoting around the index ($8M / $4M within
    10 bp per side), noise takers on both books, and a cross-momentum taker that buys ETH 2 s
    after a 0.3 % BTC move over 10 s.

    >>> scn = liqsim.scenarios.btc_eth_spillover(accounts=100)
    >>> scn.symbols
    ['BTCUSDT', 'ETHUSDT']
    """
    if margin not in ("cross", "isolated"):
        raise _config_error("margin", f"margin must be 'cross' or 'isolated', got {margin!r}")
    if not isinstance(accounts, int) or accounts < 1:
        raise _config_error("accounts", f"accounts must be an integer ≥ 1, got {accounts!r}")
    rng = np.random.default_rng(seed)
    btc_notional = np.round(60_000.0 * np.exp(0.8 * rng.standard_normal(accounts)), -1)
    eth_notional = np.round(btc_notional * rng.uniform(0.4, 1.2, accounts), -1)
    btc_qty = np.maximum(np.round(btc_notional / SPILLOVER_BTC, 3), 0.001)
    eth_qty = np.maximum(np.round(eth_notional / SPILLOVER_ETH, 3), 0.001)
    move = rng.uniform(0.015, 0.035, accounts)
    # Cross: wallet − q_btc·(P − P0) = MM_btc(P) + MM_eth at P = P0·(1 + move), solved for the wallet.
    up = SPILLOVER_BTC * (1 + move)
    mm_btc = maintenance_margin(btc_qty * up, "binance", "BTCUSDT")
    mm_eth = maintenance_margin(eth_qty * SPILLOVER_ETH, "binance", "ETHUSDT")
    wallet = np.round(btc_qty * SPILLOVER_BTC * move + mm_btc + mm_eth, 2)
    ids = np.arange(1, accounts + 1, dtype=np.int64)
    n = accounts
    if margin == "cross":
        rows = {
            "symbol": ["BTCUSDT"] * n + ["ETHUSDT"] * n,
            "trader_id": np.concatenate([ids, ids]),
            "balance": np.concatenate([wallet, np.zeros(n)]),
            "margin_mode": ["cross"] * (2 * n),
            "isolated_margin": np.full(2 * n, np.nan),
        }
    else:
        share = btc_notional / (btc_notional + eth_notional)
        rows = {
            "symbol": ["BTCUSDT"] * n + ["ETHUSDT"] * n,
            "trader_id": np.concatenate([ids, ids + 1_000_000]),
            "balance": np.zeros(2 * n),
            "margin_mode": ["isolated"] * (2 * n),
            "isolated_margin": np.round(np.concatenate([wallet * share, wallet * (1 - share)]), 2),
        }
    rows.update(
        side=["short"] * (2 * n),
        qty=np.concatenate([btc_qty, eth_qty]),
        entry_price=np.concatenate([np.full(n, SPILLOVER_BTC), np.full(n, SPILLOVER_ETH)]),
        leverage=np.full(2 * n, 50),
    )
    longs = {
        "symbol": ["BTCUSDT", "ETHUSDT"], "trader_id": [5_000_000, 5_000_001], "balance": [1e9, 1e9],
        "margin_mode": ["cross", "cross"], "isolated_margin": [np.nan, np.nan], "side": ["long", "long"],
        "qty": [float(np.round(btc_qty.sum(), 3)), float(np.round(eth_qty.sum(), 3))],
        "entry_price": [SPILLOVER_BTC, SPILLOVER_ETH], "leverage": [5, 5],
    }
    table = {k: np.concatenate([np.asarray(rows[k], dtype=object if k in ("symbol", "margin_mode", "side") else None),
                                np.asarray(longs[k], dtype=object if k in ("symbol", "margin_mode", "side") else None)])
             for k in rows}
    for k in ("symbol", "margin_mode", "side"):
        table[k] = table[k].astype(str)
    # The index: BTC flat for 30 s, then +4 % by 270 s (a row a second), flat to the end; ETH flat.
    seconds = np.arange(0, 301)
    btc = SPILLOVER_BTC * (1 + 0.04 * np.clip((seconds - 30) / 240, 0, 1))
    index = {
        "ts": np.concatenate([[0], seconds * 1_000_000_000]),
        "symbol": ["ETHUSDT"] + ["BTCUSDT"] * len(seconds),
        "price": np.concatenate([[SPILLOVER_ETH], np.round(btc, 1)]),
    }
    agents = [
        _agents.MarketMaker(symbol="BTCUSDT", reference="index", depth_10bp=8e6),
        _agents.MarketMaker(symbol="ETHUSDT", reference="index", depth_10bp=4e6),
        _agents.NoiseTaker(symbol="BTCUSDT", rate_per_s=2.0, size_min=2_000.0),
        _agents.NoiseTaker(symbol="ETHUSDT", rate_per_s=2.0, size_min=1_000.0),
        _agents.CrossMomentumTaker(leader="BTCUSDT", follower="ETHUSDT", window=10.0, lag=2.0, threshold=0.003,
                                   notional=200_000.0),
    ]
    market = {
        "BTCUSDT": {"venue": "binance", "tick_size": 0.1, "lot_size": 0.001, "insurance_fund": 50e6},
        "ETHUSDT": {"venue": "binance", "tick_size": 0.01, "lot_size": 0.001, "insurance_fund": 20e6},
    }
    return Scenario(market=market, accounts=table, index=index, agents=agents, end=300.0, sample_every=1.0, seed=seed)


_BUILTINS: dict[str, tuple[Builtin, Callable[[int], Scenario]]] = {
    b.name: (b, f)
    for b, f in (
        (Builtin(
            "eth-4k-squeeze", "ETH's 'most hated rally' at $4,000",
            "ETH approaching $4,000 with ~$331M of shorts at risk, stacked at $3,800–$4,000; next resistance $4,200",
            "ETH at 3,750 on one Binance-rules market standing for all venues: $331M of shorts whose liquidation "
            "prices lie between 3,800 and 4,000 (600 accounts, 10–50x), over a background of $400M open interest "
            "with the bimodal leverage mix; the book holds $6M within 10 bp per side, 70% of it a maker quoting "
            "around the index. Assumes a spot-led breakout: the index climbs to 4,050 in four minutes (the report "
            "gives no path) and the perp follows through the maker; the test checks the stack is the headline "
            "$331M and how much of it the breakout liquidates.",
            331e6, "short", None), _eth_4k_squeeze),
        (Builtin(
            "eth-6b-short-wall", "ETH's $6B short wall at $4,600–$4,800",
            "pivot $4,000–$4,050; squeeze zone / liquidation wall $4,600–$4,800; ~$6B of shorts at risk",
            "ETH at 4,025 (the pivot) on one aggregate market: $6B of shorts stacked with liquidation prices between "
            "4,600 and 4,800 (3,000 accounts, 5–25x) over $2B of background open interest; $25M within 10 bp per "
            "side. Assumes a breakout into the middle of the wall: the index climbs to 4,700 in four minutes; shows "
            "how much of a wall that size a move halfway into it liquidates, and what the book, fund and ADL do "
            "with it.",
            6e9, "short", None), _eth_6b_short_wall),
        (Builtin(
            "eth-pectra-rally", "The Pectra rally: ETH +20% to ~$2,000",
            "ETH +20% to ~$2,000 in a day; $310M of ETH shorts liquidated (84% of the day's liquidations were shorts)",
            "ETH from 1,667 to 2,000 (+20%) on one aggregate market standing for all venues, the day compressed to "
            "five minutes (the index path is the reported move; the perp follows it through the maker): $240M of "
            "shorts stacked between 1,700 and 1,990 plus $600M of background open interest (45% long, bimodal "
            "leverage) whose high-leverage shorts are liquidated on the way; $8M within 10 bp per side. Assumes the "
            "day's liquidations happened along one monotone path (no intraday pullbacks).",
            310e6, "short", 20.0), _eth_pectra_rally),
        (Builtin(
            "btc-95k-breakout", "BTC breaks $95,000: +3.5% to $97,800",
            "BTC $95,000 → $97,800 (+3.5%); ~$380M of BTC shorts liquidated (~$700M of shorts across coins)",
            "BTC from 95,000 to 97,800 on one aggregate market standing for all venues, compressed to four minutes: "
            "$300M of shorts stacked between 95,300 and 97,700 (10–75x) over $1.5B of background open interest "
            "(entries within ~1% of the price); $15M within 10 bp per side. Assumes the move is spot-led (index "
            "path as reported) and that the reported BTC figure is all BTC-margined-in-USDT perps.",
            380e6, "short", 3.5), _btc_95k_breakout),
        (Builtin(
            "btc-93k-rejection", "BTC rejected at $92,800–$93,900: a long flush",
            "rejected at $92,800–$93,900 and a long flush; $117M–$177M of BTC longs liquidated ($400M+ across coins)",
            "BTC at 93,000 pushes to 93,850, is rejected and falls to ~91,000 (−2.5% from the high; the report gives "
            "the rejection zone, not the low, so the low is an assumption) on one aggregate market, compressed to "
            "five minutes: $110M of longs stacked between 90,500 and 92,500 (10–75x) over $1.5B of background "
            "open interest (55% long); $15M within 10 bp per side. The check is against the middle of the "
            "reported range, $147M.",
            147e6, "long", None), _btc_93k_rejection),
        (Builtin(
            "depth-collapse-2025-10-10", "2025-10-10: the book empties under a long flush (real depth)",
            "BTCUSDT ask depth within +1% fell from a day median of ~$244M to ~$57M at 21:22 UTC; "
            "$9.9B liquidated across venues over 14 h (one vendor), 84% longs",
            "BTCUSDT from 21:00 to 21:30 UTC with the day's real liquidity: the maker's depth within 1% follows "
            "Binance's +1% ask band snapshot by snapshot ($244M day median = full profile; $57M at 21:22:31) and the "
            "index follows the real mid (the band's depth-weighted price less 0.5%: ~116,000 → ~108,000 → ~112,000). "
            "Assumed: both sides thin alike (the archive's bid bands are stale from 15:30), the profile's shape "
            "inside 1% (β 0.65), and the population: $8B of background open interest, 65% long, bimodal leverage, "
            "plus $1.5B of longs stacked with liquidation prices between 104,000 and 114,000 (10–50x). The "
            "reported $9.9B is all venues and coins over 14 h, so the check is on the depth and the price path, "
            "and that longs dominate (84% reported); the liquidated total is what the assumed population gives.",
            9.9e9, "long", None), depth_collapse_2025_10_10),
        (Builtin(
            "btc-eth-spillover", "BTC breaks out; cross accounts short ETH too are liquidated in ETH",
            "BTC and ETH liquidated together on the same days (e.g. $375M BTC and $310M ETH); a cross-margin "
            "account holds both, so a squeeze on one drains the collateral of the other",
            "BTC (95,000) and ETH (3,300) on one Binance-rules venue sharing cross margin: 2,000 traders short both "
            "(BTC notional log-normal, median $60k; ETH 0.4–1.2× that), each with the money that puts its account at "
            "maintenance when BTC is up 1.5–3.5 % with ETH flat; the other side is one long account per market. "
            "Assumes a spot-led BTC breakout of +4 % in four minutes and a flat ETH index; makers quote around the "
            "index ($8M / $4M within 10 bp per side), noise takers on both books and a cross-momentum taker buying "
            "ETH after BTC moves. The BTC losses liquidate the accounts' ETH shorts (largest maintenance margin "
            "first: an assumption, the venues do not publish the order) with ETH barely moving. Compare "
            "btc-eth-spillover-isolated: the same positions with isolated margin.",
            0.0, "short", 4.0), lambda seed: btc_eth_spillover(seed, "cross")),
        (Builtin(
            "btc-eth-spillover-isolated", "The same BTC breakout with isolated margin: ETH shorts untouched",
            "(the comparison run of btc-eth-spillover)",
            "btc-eth-spillover with every position isolated: each trader's BTC and ETH shorts are two isolated "
            "positions, the money split in proportion to their notionals. The BTC breakout liquidates BTC shorts "
            "(earlier than cross: each has only its share of the money), and with ETH's index flat no ETH short is "
            "liquidated: the spill-over channel is the shared collateral.",
            0.0, "short", 4.0), lambda seed: btc_eth_spillover(seed, "isolated")),
    )
}
DEFAULT = "eth-4k-squeeze"


def names() -> list[str]:
    """Names of the built-in scenarios, the default first.

    >>> liqsim.scenarios.names()[0]
    'eth-4k-squeeze'
    """
    return list(_BUILTINS)


def describe(name: str = DEFAULT) -> Builtin:
    """What a built-in scenario reproduces: the reported figures and how the scenario maps them.

    >>> liqsim.scenarios.describe("btc-95k-breakout").reported_liquidations
    380000000.0
    """
    if name not in _BUILTINS:
        raise _config_error("name", f"no built-in scenario {name!r}{did_you_mean(name, _BUILTINS)}; built-in: {names()}")
    return _BUILTINS[name][0]


def load(name: str = DEFAULT, seed: int = 7) -> Scenario:
    """A built-in scenario as a :class:`liqsim.Scenario` (see :func:`describe`); change any part with
    :meth:`liqsim.Scenario.replace` or rebuild it with :func:`build`.

    >>> scn = liqsim.scenarios.load("eth-4k-squeeze")
    >>> scn.market["symbol"]
    'ETHUSDT'
    """
    describe(name)
    return _BUILTINS[name][1](seed)


def eth_short_squeeze(seed: int = 7, n_shorts: int = 4000, n_longs: int = 1000) -> dict[str, Any]:
    """An ETH-like perpetual at 3,850 with shorts stacked above the price.

    - Book (background liquidity): one level every tick near the touch, spreading out to ±10%;
      cumulative depth grows like distance^0.65 (the concave profile measured on Binance),
      about 2,600 ETH (~$10M) within 1% of mid on each side: a thin, stressed book.
    - ``n_shorts`` shorts opened between 3,700 and 3,850 at 10–100x (most 20–50x), sizes
      log-normal (median ~1.5 ETH, tail to a few hundred ETH): their liquidation prices stack in
      the +1% … +10% band above the price, densest just above it.
    - ``n_longs`` longs at 2–20x with liquidation prices well below: the counterparties that
      auto-deleveraging would pick.

    Returns ``{"book": ..., "accounts": ..., "params": ...}``; ``params`` holds venue, symbol,
    tick and lot size, index price and insurance fund.
    """
    rng = np.random.default_rng(seed)
    mid, tick, lot = 3850.0, 0.01, 0.001
    mid_ticks = round(mid / tick)

    # Book: distances in ticks, dense near the touch.
    dist = np.unique(np.round(np.geomspace(1, 0.10 * mid / tick, 700)).astype(np.int64))
    cum = 12.0 * dist.astype(np.float64) ** 0.65
    level = np.diff(np.concatenate([[0.0], cum]))
    n = len(dist)
    qty = np.round(np.concatenate([level, level]) * rng.uniform(0.8, 1.2, 2 * n), 3)
    qty = np.maximum(qty, lot)
    book = {
        "side": np.array(["bid"] * n + ["ask"] * n),
        "price": np.round(np.concatenate([mid_ticks - dist, mid_ticks + dist]) * tick, 2),
        "qty": qty,
    }

    # Shorts: entries below the price, leverage skewed to 20–50x.
    leverage = np.clip(np.round(rng.lognormal(np.log(30), 0.45, n_shorts)), 10, 100)
    entry = np.round(rng.uniform(3700.0, 3850.0, n_shorts), 2)
    size = np.round(np.clip(rng.lognormal(np.log(1.5), 1.1, n_shorts), 0.01, 400.0), 3)
    # Cross accounts holding only this position: wallet = initial margin plus a small buffer.
    balance = np.round(size * entry / leverage * rng.uniform(1.0, 1.3, n_shorts), 2)
    # Keep those that are not liquidatable at the current price (a fresh market is settled).
    lp = liqsim.liquidation_price("short", size, entry, balance, venue="binance", symbol="ETHUSDT")
    keep = lp > mid * 1.002
    shorts = {
        "trader_id": np.arange(n_shorts)[keep],
        "balance": balance[keep],
        "side": np.full(keep.sum(), "short"),
        "qty": size[keep],
        "entry_price": entry[keep],
        "leverage": leverage[keep],
    }
    long_lev = np.clip(np.round(rng.lognormal(np.log(6), 0.5, n_longs)), 2, 20)
    long_entry = np.round(rng.uniform(3600.0, 3850.0, n_longs), 2)
    long_size = np.round(np.clip(rng.lognormal(np.log(2.0), 1.0, n_longs), 0.01, 300.0), 3)
    longs = {
        "trader_id": 100_000 + np.arange(n_longs),
        "balance": np.round(long_size * long_entry / long_lev * 1.2, 2),
        "side": np.full(n_longs, "long"),
        "qty": long_size,
        "entry_price": long_entry,
        "leverage": long_lev,
    }
    whale = {"trader_id": [999_999], "balance": [50_000_000.0], "side": ["flat"], "qty": [0.0],
             "entry_price": [np.nan], "leverage": [5.0]}
    accounts = {k: np.concatenate([np.asarray(shorts[k]), np.asarray(longs[k]), np.asarray(whale[k])]) for k in shorts}
    params = {
        "venue": "binance",
        "symbol": "ETHUSDT",
        "tick_size": tick,
        "lot_size": lot,
        "index": mid,
        "insurance_fund": 2_000_000.0,
        "whale_id": 999_999,
    }
    return {"book": book, "accounts": accounts, "params": params}


def build_exchange(market: dict[str, Any], **overrides: Any) -> Exchange:
    """An :class:`Exchange` loaded with a built-in market (``overrides`` go to the constructor)."""
    p = market["params"]
    kwargs = {
        "venue": p["venue"],
        "symbol": p["symbol"],
        "tick_size": p["tick_size"],
        "lot_size": p["lot_size"],
        "insurance_fund": p["insurance_fund"],
    } | overrides
    ex = Exchange(**kwargs)
    ex.load_accounts(market["accounts"])
    ex.load_book(market["book"])
    ex.set_index(p["index"])
    return ex
