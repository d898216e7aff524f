"""Market agents for :func:`liqsim.simulate`: specs here, behaviour in the Rust core.

Each agent is a small frozen dataclass whose defaults come from ``shared/MODELS.md`` (figures from public
market-microstructure research; they are starting points, not calibrated truths). Money is in the
quote currency, durations accept anything :meth:`liqsim.Exchange.advance` does (a float is
seconds) and are kept as int nanoseconds, distances are fractions or basis points as the name says. Agents act only through the
exchange's order API, as a trader at a venue's gateway would.

>>> import liqsim
>>> maker = liqsim.agents.MarketMaker(depth_10bp=2e6, pull_move=0.005)
>>> noise = liqsim.agents.NoiseTaker(rate_per_s=3.0)
>>> maker.name, noise.type
('market_maker', 'noise_taker')
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union

from ._choices import did_you_mean
from ._time import DurationLike, duration_ns
from .errors import ConfigError

#: Trader ids given to agents that do not name one: 9,000,000,000 + their position in the list.
AGENT_ID_BASE = 9_000_000_000
#: The background liquidity account (exempt from margin): the market maker's default.
LIQUIDITY_ID = -2


def _config_error(parameter: str, message: str) -> ConfigError:
    err = ConfigError(message)
    err.parameter = parameter
    return err


@dataclass(frozen=True)
class _Agent:
    type: ClassVar[str] = ""
    #: Fields holding durations (sent to the core as integer ns).
    _durations: ClassVar[tuple[str, ...]] = ()

    #: The market the agent trades, in a scenario of several (``None``: the one market).
    symbol: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        # Durations are kept as int ns whatever the user gave, so specs compare equal after a
        # save and load, and a bad duration is refused when the spec is made.
        for name in self._durations:
            object.__setattr__(self, name, duration_ns(f"{self.type}.{name}", getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able values (what :meth:`liqsim.Scenario.save` writes)."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        if out.get("symbol") is None:
            # One-market scenarios save as before.
            out.pop("symbol", None)
        return out

    def _core(self, position: int) -> dict[str, Any]:
        """The spec in core units: durations in ns, a trader id filled in."""
        d = self.to_dict()
        for k, v in d.items():
            if isinstance(v, list):
                d[k] = [tuple(x) if isinstance(x, list) else x for x in v]  # pairs cross as tuples
        if "trader_id" in d and d["trader_id"] is None:
            d["trader_id"] = AGENT_ID_BASE + position
        return d


@dataclass(frozen=True)
class MarketMaker(_Agent):
    """Keeps a concave depth profile around a reference price, refills it, pulls it in fast markets.

    Cumulative depth per side within distance x of the reference is ``depth_10bp × (x / 10 bp)^beta``
    (MODELS.md §1: β ≈ 0.65, a Binance-like BTC perp has $2–4M within 10 bp), placed on
    ``levels`` price levels from ``first_level_bp`` out, ``level_spacing_bp`` apart. Depth a
    sweep takes regrows toward the profile with ``refill_half_life`` (§2: ~20 s). The maker
    pulls the side the market moves into (or both) when the reference moves more than
    ``pull_move`` (a fraction) within ``pull_window``, or when liquidations exceed
    ``pull_liquidations`` quote per second over that window; it reloads from nothing after
    ``reload_after`` of calm, or as soon as its reference reaches one of ``reload_levels`` (quote
    prices on the tick grid, e.g. round numbers where makers return; reached from either side
    since the previous refresh, even while the market still moves: the pull rule then measures
    moves from there). ``pull_move=0`` and ``pull_liquidations=0`` never pull.

    Inventory (MODELS.md gives no rule; a linear Avellaneda–Stoikov-style skew): the ladder is
    centred on the reference shifted against the maker's position by ``skew_bp_per_million`` bp
    per 1,000,000 quote of position notional (long $2M with 5 bp: centre 10 bp lower, so cheaper
    asks and lower bids; capped at ±50%). ``max_position`` (quote notional, below 1e26) is a limit
    the quotes themselves hold: at each refresh it becomes L = floor(max_position / value of one
    lot at the reference) lots, and the maker rests at most L − position on its bids and
    L + position on its asks (long positive), so no sweep and no run of takers between two
    refreshes can fill it past ±L lots. The inner levels keep their profile and the outer ones
    are trimmed (the quotes nearest the price stay where they are; moving the touch away is the
    skew's job). At L the side that would grow the position is cancelled and regrows with
    ``refill_half_life`` once there is room. Between refreshes L stays in lots, so the position's
    notional moves with the price: |position| × price ≤ max_position × price / the reference at
    the last refresh. The position is the account's (give the maker its own ``trader_id``: the
    default liquidity account also holds the static book's fills, which the limit cannot
    stop). All three default off (0, 0, empty).

    ``depth_schedule`` makes the depth change over time (a real day's depth bands, a liquidity
    drought): rows ``(at, bid_scale, ask_scale)`` — ``at`` the time since the simulation start
    (float seconds, int ns, ``timedelta``), strictly increasing; scales in [0, 1000] multiply
    each side's profile from that time on (before the first row: 1). A cut is withdrawn at once,
    a rise regrows with ``refill_half_life``. A table or dict with columns ``at``, ``bid_scale``,
    ``ask_scale`` is accepted too.

    >>> mm = MarketMaker(depth_10bp=2e6, depth_schedule=[(60.0, 0.5, 0.25), (120.0, 1.0, 1.0)])
    >>> mm.depth_schedule[0]
    (60000000000, 0.5, 0.25)
    >>> mm = MarketMaker(trader_id=7, skew_bp_per_million=5.0, max_position=2e6,
    ...                  pull_move=0.01, reload_levels=[3000, 2900.0])
    >>> mm.reload_levels
    (2900.0, 3000.0)
    """

    type: ClassVar[str] = "market_maker"
    _durations: ClassVar[tuple[str, ...]] = ("refresh_every", "refill_half_life", "pull_window", "reload_after")

    name: str = "market_maker"
    trader_id: int | None = LIQUIDITY_ID
    reference: Literal["index", "mid", "last"] = "mid"
    depth_10bp: float = 3_000_000.0
    beta: float = 0.65
    first_level_bp: float = 1.0
    level_spacing_bp: float = 2.0
    levels: int = 100
    refresh_every: DurationLike = 0.1
    refill_half_life: DurationLike = 20.0
    requote_bp: float = 2.0
    pull_move: float = 0.0
    pull_window: DurationLike = 60.0
    pull_liquidations: float = 0.0
    pull_both_sides: bool = False
    reload_after: DurationLike = 120.0
    depth_schedule: Any = ()
    skew_bp_per_million: float = 0.0
    max_position: float = 0.0
    reload_levels: Sequence[float] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "depth_schedule", _depth_schedule(self.depth_schedule))
        for name in ("skew_bp_per_million", "max_position"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < math.inf:
                raise _config_error(f"{self.type}.{name}", f"{self.name}: {name} must be a finite number ≥ 0 (0: off), got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.max_position >= MAX_POSITION_LIMIT:
            raise _config_error(f"{self.type}.max_position",
                                f"{self.name}: max_position must be below {MAX_POSITION_LIMIT:g} quote (0: off), got {self.max_position!r}")
        object.__setattr__(self, "reload_levels", _reload_levels(self.name, self.reload_levels))


def _reload_levels(agent: str, levels: Any) -> tuple[float, ...]:
    """``reload_levels`` as sorted quote prices, each a finite number > 0, no repeats."""
    where = "market_maker.reload_levels"
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Iterable):
        raise _config_error(where, f"{agent}: reload_levels must be a list of prices, got {levels!r}")
    out: list[float] = []
    for r, v in enumerate(levels):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 < float(v) < math.inf:
            raise _config_error(where, f"{agent}: reload_levels row {r}: a price must be a finite number > 0, got {v!r}")
        out.append(float(v))
    out.sort()
    for a, b in zip(out, out[1:]):
        if a == b:
            raise _config_error(where, f"{agent}: reload_levels lists {a:g} twice")
    return tuple(out)


#: The largest position limit of a market maker, quote (the core's MAX_POSITION_LIMIT: 10^38
#: money units, what the core's exact money holds with room to spare).
MAX_POSITION_LIMIT = 1e26

#: The largest scale of a depth step (the core's MAX_DEPTH_SCALE).
MAX_DEPTH_SCALE = 1000.0


def _depth_schedule(rows: Any) -> tuple[tuple[int, float, float], ...]:
    """``depth_schedule`` rows as (ns since the start, bid scale, ask scale), checked row by row."""
    where = "market_maker.depth_schedule"
    if isinstance(rows, Mapping) or hasattr(rows, "column_names") or hasattr(rows, "to_pydict"):
        from ._tables import as_table

        t = as_table(rows, "depth_schedule")
        missing = [c for c in ("at", "bid_scale", "ask_scale") if c not in t.column_names]
        if missing:
            raise _config_error(where, f"depth_schedule table needs columns {missing} (has {t.column_names})")
        cols = t.to_pydict()
        rows = list(zip(cols["at"], cols["bid_scale"], cols["ask_scale"]))
    out: list[tuple[int, float, float]] = []
    for r, row in enumerate(rows):
        try:
            at, bid, ask = row
        except (TypeError, ValueError):
            raise _config_error(where, f"depth_schedule row {r}: expected (at, bid_scale, ask_scale), got {row!r}") from None
        at_ns = duration_ns(f"{where} row {r}", at)
        if at_ns < 0:
            raise _config_error(where, f"depth_schedule row {r}: at must be ≥ 0 (time since the start), got {at!r}")
        if out and at_ns <= out[-1][0]:
            raise _config_error(where, f"depth_schedule row {r}: times must increase ({at!r} is not after row {r - 1})")
        scales = []
        for name, v in (("bid_scale", bid), ("ask_scale", ask)):
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise _config_error(where, f"depth_schedule row {r}: {name} must be a number, got {v!r}") from None
            if not 0.0 <= x <= MAX_DEPTH_SCALE:
                raise _config_error(where, f"depth_schedule row {r}: {name} must be in [0, {MAX_DEPTH_SCALE:g}], got {v!r}")
            scales.append(x)
        out.append((at_ns, scales[0], scales[1]))
    return tuple(out)


@dataclass(frozen=True)
class NoiseTaker(_Agent):
    """Market orders at Poisson times (``rate_per_s``), heavy-tailed sizes in quote notional
    (``size_dist``: ``"pareto"`` with ``size_min`` and tail index ``size_alpha``, or
    ``"lognormal"`` with ``size_median`` and ``size_sigma``), buys with probability ``buy_share``."""

    type: ClassVar[str] = "noise_taker"

    name: str = "noise_taker"
    trader_id: int | None = None
    rate_per_s: float = 2.0
    size_dist: Literal["pareto", "lognormal"] = "pareto"
    size_min: float = 1_000.0
    size_alpha: float = 1.5
    size_median: float = 5_000.0
    size_sigma: float = 1.5
    buy_share: float = 0.5


@dataclass(frozen=True)
class MomentumTaker(_Agent):
    """Every ``check_every``, if the last price moved more than ``threshold`` (a fraction) over
    ``window``, a market order in the direction of the move of ``base_notional × (move /
    threshold)^exponent`` quote; then quiet for ``cooldown``."""

    type: ClassVar[str] = "momentum_taker"
    _durations: ClassVar[tuple[str, ...]] = ("check_every", "window", "cooldown")

    name: str = "momentum_taker"
    trader_id: int | None = None
    check_every: DurationLike = 1.0
    window: DurationLike = 10.0
    threshold: float = 0.002
    base_notional: float = 100_000.0
    exponent: float = 1.0
    cooldown: DurationLike = 5.0


@dataclass(frozen=True)
class PositionOpeners(_Agent):
    """A pool of ``accounts`` leveraged accounts (ids from ``first_trader_id``) that open and
    close positions at ``rate_per_s`` decisions a second across the pool, so open interest rises
    with new risk and falls with covering.

    A flat account opens long with probability ``long_share + momentum_sensitivity × (return
    over momentum_window) − funding_sensitivity × funding rate`` (clipped to [0, 1]), for a
    notional of ``wallet × leverage × size_fraction``; an open position is closed with
    probability ``close_share``. Leverage is drawn per account from ``leverage_mix``
    ((leverage, weight) pairs; the default follows MODELS.md §4: most open interest at low
    leverage, a tail to 50x).
    """

    type: ClassVar[str] = "position_openers"
    _durations: ClassVar[tuple[str, ...]] = ("momentum_window",)

    name: str = "position_openers"
    first_trader_id: int = 8_000_000_000
    accounts: int = 1_000
    balance: float = 10_000.0
    leverage_mix: Sequence[tuple[int, float]] = ((2, 0.36), (5, 0.48), (10, 0.10), (25, 0.04), (50, 0.02))
    isolated_share: float = 0.3
    rate_per_s: float = 1.0
    long_share: float = 0.5
    close_share: float = 0.3
    momentum_window: DurationLike = 60.0
    momentum_sensitivity: float = 10.0
    funding_sensitivity: float = 100.0
    size_fraction: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "leverage_mix", tuple((int(l), float(w)) for l, w in self.leverage_mix))


@dataclass(frozen=True)
class BasisArbitrageur(_Agent):
    """Trades the perp toward ``index × (1 + target_basis)``: buys asks below fair − ``band_bp``,
    sells bids above fair + ``band_bp`` (IOC at the band, so it never pushes past fair),
    ``clip`` quote per action, within ``max_position`` quote."""

    type: ClassVar[str] = "basis_arbitrageur"
    _durations: ClassVar[tuple[str, ...]] = ("check_every",)

    name: str = "basis_arbitrageur"
    trader_id: int | None = None
    check_every: DurationLike = 1.0
    target_basis: float = 0.0
    band_bp: float = 5.0
    clip: float = 50_000.0
    max_position: float = 5_000_000.0


@dataclass(frozen=True)
class IndexCoupling(_Agent):
    """The index follows the perp: every ``every``, index ← index + ``elasticity`` × (last −
    index). 0 is a spot-led market (the index is only the scenario's path), 1 a perp-led one."""

    type: ClassVar[str] = "index_coupling"
    _durations: ClassVar[tuple[str, ...]] = ("every",)

    name: str = "index_coupling"
    every: DurationLike = 1.0
    elasticity: float = 0.1


@dataclass(frozen=True)
class StopPlacer(_Agent):
    """Stops just beyond recent highs and lows, where breakout entries and stop-losses cluster:
    every ``every``, a ladder of ``levels`` buy stops from ``offset_bp`` above the high of the last
    ``lookback`` (``spacing_bp`` apart) and sell stops mirrored below the low, ``notional`` quote
    each, re-placed when the high or low moves. A push through the high sets them off in turn."""

    type: ClassVar[str] = "stop_placer"
    _durations: ClassVar[tuple[str, ...]] = ("every", "lookback")

    name: str = "stop_placer"
    trader_id: int | None = None
    every: DurationLike = 10.0
    lookback: DurationLike = 3600.0
    offset_bp: float = 5.0
    levels: int = 10
    spacing_bp: float = 5.0
    notional: float = 100_000.0


@dataclass(frozen=True)
class BackstopUnwinder(_Agent):
    """Trades the position the backstop took over back to zero (the insurance fund selling what it
    took over on Binance, Bybit's takeover, Hyperliquid's liquidator vault).

    Without it, a position the book could not absorb sits with the backstop (trader id -1, whose
    wallet is the insurance fund) to the end of the run. With it, every ``every`` the backstop
    sends a reduce-only IOC order of its own through the normal order API: its fills are normal
    trades with taker -1, their realised PnL (net of the taker fee) is on the insurance record as
    ``position_pnl``, and any cascade they set off runs as after any other order.

    How much per wake: ``horizon`` unwinds each taken-over lot evenly within that time of the wake
    that saw it (10 ETH, horizon 10 s, every 1 s: 1 ETH a wake; what a wake could not sell stays
    due); ``participation`` sells that fraction (in (0, 1]) of the lots other takers traded in the
    book since the last wake; with both, the larger. ``max_slippage_bp`` makes each order an IOC
    limit at the mark ∓ that many basis points (``None``: IOC market orders, which may sweep the
    book). ``delay`` waits after a takeover is seen before its lot starts. Durations: float
    seconds, int ns or ``timedelta``. Omit the agent to keep the backstop holding.

    >>> u = BackstopUnwinder(every=1.0, horizon=60.0, max_slippage_bp=50.0)
    >>> u.horizon, u.participation
    (60000000000, None)
    """

    type: ClassVar[str] = "backstop_unwinder"
    _durations: ClassVar[tuple[str, ...]] = ("every", "delay")

    name: str = "backstop_unwinder"
    every: DurationLike = 1.0
    horizon: DurationLike | None = 60.0
    participation: float | None = None
    max_slippage_bp: float | None = None
    delay: DurationLike = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        where = self.type
        if self.every <= 0:  # type: ignore[operator]
            raise _config_error(f"{where}.every", f"{self.name}: every must be > 0, got {self.every} ns")
        if self.delay < 0:  # type: ignore[operator]
            raise _config_error(f"{where}.delay", f"{self.name}: delay must be ≥ 0, got {self.delay} ns")
        if self.horizon is not None:
            horizon = duration_ns(f"{where}.horizon", self.horizon)
            if horizon <= 0:
                raise _config_error(f"{where}.horizon", f"{self.name}: horizon must be > 0 (None: no schedule), got {horizon} ns")
            object.__setattr__(self, "horizon", horizon)
        for name, low, high, closed in (("participation", 0.0, 1.0, True), ("max_slippage_bp", 0.0, 10_000.0, False)):
            value = getattr(self, name)
            if value is None:
                continue
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
            if ok:
                v = float(value)
                ok = (low < v <= high) if closed else (low <= v < high)
            if not ok:
                span = "in (0, 1]" if closed else "in [0, 10000)"
                raise _config_error(f"{where}.{name}", f"{self.name}: {name} must be a number {span} or None, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.horizon is None and self.participation is None:
            raise _config_error(
                f"{where}.horizon", f"{self.name}: give a horizon, a participation rate, or both (how much to sell per wake)"
            )


@dataclass(frozen=True)
class CrossMomentumTaker(_Agent):
    """Trades market ``follower`` after a move of market ``leader`` (a scenario of several
    markets): every ``check_every`` it reads the leader's last price; when that moved more than
    ``threshold`` (a fraction) over ``window``, it sends a market order of ``notional`` (quote) on
    the follower ``lag`` later, in the direction of the move, then waits ``window`` before it
    looks for the next move. Its account is in the follower's market.

    >>> t = CrossMomentumTaker(leader="BTCUSDT", follower="ETHUSDT", lag=2.0, threshold=0.005)
    >>> t.lag
    2000000000
    """

    type: ClassVar[str] = "cross_momentum_taker"
    _durations: ClassVar[tuple[str, ...]] = ("check_every", "window", "lag")

    name: str = "cross_momentum_taker"
    trader_id: int | None = None
    leader: str = "BTCUSDT"
    follower: str = "ETHUSDT"
    check_every: DurationLike = 1.0
    window: DurationLike = 10.0
    lag: DurationLike = 2.0
    threshold: float = 0.005
    notional: float = 100_000.0


AgentSpec = Union[
    MarketMaker, NoiseTaker, MomentumTaker, PositionOpeners, BasisArbitrageur, IndexCoupling, StopPlacer, CrossMomentumTaker,
    BackstopUnwinder,
]
AGENT_TYPES: dict[str, type[_Agent]] = {
    cls.type: cls
    for cls in (
        MarketMaker, NoiseTaker, MomentumTaker, PositionOpeners, BasisArbitrageur, IndexCoupling, StopPlacer,
        CrossMomentumTaker, BackstopUnwinder,
    )
}


def from_dict(spec: Mapping[str, Any]) -> AgentSpec:
    """An agent from a dict such as ``{"type": "market_maker", "pull_move": 0.01}``; unknown types
    and parameters are refused with a suggestion."""
    if not isinstance(spec, Mapping):
        raise _config_error("agents", f"an agent must be a liqsim.agents spec or a dict, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in AGENT_TYPES:
        raise _config_error(
            "agents", f"unknown agent type {kind!r}; accepted: {sorted(AGENT_TYPES)}{did_you_mean(str(kind), AGENT_TYPES)}"
        )
    cls = AGENT_TYPES[str(kind)]
    names = [f.name for f in dataclasses.fields(cls)]
    params = {k: v for k, v in spec.items() if k != "type"}
    for k in params:
        if k not in names:
            raise _config_error(f"agents.{kind}", f"{kind} has no parameter {k!r}{did_you_mean(k, names)}; accepted: {names}")
    return cls(**params)  # type: ignore[return-value]


def normalise(agents: Sequence[AgentSpec | Mapping[str, Any]]) -> tuple[AgentSpec, ...]:
    """Agents as specs, with unique names (a second ``market_maker`` becomes ``market_maker_2``)."""
    out: list[AgentSpec] = []
    seen: dict[str, int] = {}
    for a in agents:
        spec = a if isinstance(a, _Agent) else from_dict(a)
        count = seen.get(spec.name, 0) + 1
        seen[spec.name] = count
        if count > 1:
            spec = dataclasses.replace(spec, name=f"{spec.name}_{count}")
        out.append(spec)
    return tuple(out)


__all__ = [
    "AGENT_ID_BASE",
    "AgentSpec",
    "BackstopUnwinder",
    "BasisArbitrageur",
    "CrossMomentumTaker",
    "IndexCoupling",
    "MarketMaker",
    "MomentumTaker",
    "NoiseTaker",
    "PositionOpeners",
    "StopPlacer",
    "from_dict",
]
