"""`liqsim.simulate`: run a :class:`liqsim.Scenario` in the core and read the market over time."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _choices, _core
from ._tables import code_column, float_column, int_column, scenario_error, time_column
from ._time import DurationLike, TimeLike, duration_ns, time_ns
from .book import SIDE_CODES
from .errors import ConfigError
from .exchange import Exchange
from .multi import MultiExchange, _from_core
from .results import Table
from .scenario import Scenario

#: Order actions of the ``orders`` table.
ACTION_CODES = {"limit": 0, "market": 1, "cancel": 2, "stop_market": 3, "stop_limit": 4, "trailing_stop": 5,
                "stop": 3, "trailing": 5}
#: What a stop watches.
TRIGGER_ON_CODES = {"last": 0, "mark": 1}
#: Balance of agent accounts the scenario did not load (quote).
AGENT_BALANCE = 1e12


class SimulationResult:
    """What a run produced: ``series`` (the market every ``sample_every``), ``trades``,
    ``liquidations``, ``accounts`` (at the end), ``funding``, ``adl``, ``insurance`` — each a
    :class:`liqsim.Table` — and :meth:`summary`. ``exchange`` is the market at the end, to
    inspect or continue (``result.exchange.copy()``)."""

    def __init__(
        self,
        scenario: Scenario,
        exchange: Exchange | None,
        raw: dict[str, Any],
        wall_time: float,
        venue: MultiExchange | None = None,
    ) -> None:
        self.scenario = scenario
        self._exchange = exchange
        #: The venue at the end, for a scenario of several markets (else None).
        self.venue = venue
        categories = {"symbol": venue.symbols} if venue is not None else None
        self.series = Table(raw["series"], categories=categories, timestamps=["ts"], name="series")
        #: Events processed: index updates, scenario orders and agent wake-ups.
        self.events: int = int(raw["events"])
        #: Orders, cancels and index updates the agents sent when they woke.
        self.agent_actions: int = int(raw["agent_actions"])
        #: Rows of the scenario's ``orders`` table that the exchange refused (margin, reduce-only, …).
        self.refused_orders: np.ndarray = raw["refused_orders"]
        # What each market's backstop holds at the end, (position, notional), in market order:
        # read by the core from the final state (the last sample may be earlier than the end).
        self._backstop: list[tuple[float, float]] = [(float(q), float(n)) for q, n in raw["backstop"]]
        self.wall_time = wall_time
        # Kept copies of the market (an Exchange) or, for several markets, of the venue.
        self._states: list[tuple[int, Exchange]] = []
        self._venue_states: list[tuple[int, MultiExchange]] = []
        if venue is None:
            self._states = [(int(ts), Exchange._wrap(core)) for ts, core in raw["states"]]
        else:
            self._venue_states = [(int(ts), _from_core(core)) for ts, core in raw["states"]]

    @property
    def exchange(self) -> Exchange:
        """The market at the end, to inspect or continue (``result.exchange.copy()``). A run of
        several markets has :attr:`venue` instead (``result.venue.market("ETHUSDT")``)."""
        if self._exchange is None:
            err = ConfigError("a run of several markets has no single exchange: use result.venue (or result.venue.market(symbol))")
            err.parameter = "exchange"
            raise err
        return self._exchange

    def _table(self, name: str) -> Table:
        if self.venue is not None:
            return self.venue._concat(name)
        return getattr(self.exchange, name)()  # type: ignore[no-any-return]

    @property
    def state_times(self) -> list[int]:
        """Times (ns) of the market (or venue) copies kept with ``simulate(..., keep_states=...)``."""
        return [ts for ts, _ in (self._venue_states if self.venue is not None else self._states)]

    def _kept(self, states: Sequence[tuple[int, Any]], t: TimeLike) -> Any:
        target = time_ns("t", t)
        before = [state for ts, state in states if ts <= target]
        if not before:
            err = ConfigError(
                f"no market state kept at or before {target} ns; kept: {self.state_times} "
                "(pass keep_states=[...] to simulate)"
            )
            err.parameter = "t"
            raise err
        return before[-1].copy()

    def state_at(self, t: TimeLike) -> Exchange:
        """A copy of the market as it was at the kept state at or before ``t`` (see
        ``simulate(..., keep_states=...)``); the result stays unchanged when you act on it. A run
        of several markets has :meth:`venue_state_at` instead (as it has :attr:`venue` instead of
        :attr:`exchange`).

        >>> # res = liqsim.simulate(scn, keep_states=[30 * 10**9]); liqsim.liquidation_map(res.state_at(30 * 10**9))
        """
        if self.venue is not None:
            err = ConfigError("a run of several markets keeps venues: use result.venue_state_at(t) (a liqsim.MultiExchange)")
            err.parameter = "state_at"
            raise err
        state: Exchange = self._kept(self._states, t)
        return state

    def venue_state_at(self, t: TimeLike) -> MultiExchange:
        """For a run of several markets: a copy of the whole venue (a :class:`liqsim.MultiExchange`:
        every market's book, accounts and tapes so far) as it was at the kept state at or before
        ``t`` (ns, or a datetime; see ``simulate(..., keep_states=...)``). The result stays
        unchanged when you act on the copy (submit orders, move an index, advance time).

        >>> # res = liqsim.simulate(venue_scn, keep_states=[10 * 10**9])
        >>> # res.venue_state_at(10 * 10**9).market("ETHUSDT").mark
        """
        if self.venue is None:
            err = ConfigError("a run of one market keeps exchanges: use result.state_at(t)")
            err.parameter = "venue_state_at"
            raise err
        state: MultiExchange = self._kept(self._venue_states, t)
        return state

    @property
    def trades(self) -> Table:
        return self._table("trades")

    @property
    def liquidations(self) -> Table:
        return self._table("liquidations")

    @property
    def accounts(self) -> Table:
        return self._table("accounts")

    @property
    def funding(self) -> Table:
        return self._table("funding")

    @property
    def adl(self) -> Table:
        return self._table("adl")

    @property
    def insurance(self) -> Table:
        return self._table("insurance")

    @property
    def stops(self) -> Table:
        """Stops triggered, refused or cancelled (see :meth:`liqsim.Exchange.stops`)."""
        return self._table("stops")

    def summary(self) -> dict[str, Any]:
        """Headline figures: price path (first, last, peak, trough of the last price and their
        change in %), liquidated notional (quote) and count by side, open-interest change,
        insurance fund change, what the backstop (trader −1) holds at the end from takeovers it
        has not unwound (``backstop_position``, base units, > 0 long; ``backstop_notional``, quote
        at the final mark), ADL fills, stops triggered, deepest cascade round, events processed,
        wall time (s).

        Liquidated notional is quantity × average fill price (the bankruptcy price where the
        book filled nothing).

        A run of several markets gives one such dict per symbol (events and wall time are the
        venue's) and ``"venue"``: liquidated notional and counts, insurance fund change, backstop
        notional, ADL fills and stops summed over the markets, the deepest cascade round,
        ``transfers`` (money moved between an account's legs), events and wall time.

        >>> # liqsim.simulate(scn).summary()["ETHUSDT"]["liquidated_short_count"]
        """
        if self.venue is not None:
            return self._venue_summary()
        return self._summary_of(self.series, self.liquidations, len(self.adl), self.stops, self._backstop[0])

    def _venue_summary(self) -> dict[str, Any]:
        assert self.venue is not None
        series, liq, adl, stops = self.series, self.liquidations, self.adl, self.stops
        out: dict[str, Any] = {}
        for k, symbol in enumerate(self.venue.symbols):
            out[symbol] = self._summary_of(
                _rows(series, series.codes("symbol") == k),
                _rows(liq, liq.codes("symbol") == k),
                int((adl.codes("symbol") == k).sum()),
                _rows(stops, stops.codes("symbol") == k),
                self._backstop[k],
            )
        per = [out[s] for s in self.venue.symbols]
        total: dict[str, Any] = {
            key: sum(p[key] for p in per)
            for key in ("liquidated_long_notional", "liquidated_short_notional", "liquidated_long_count",
                        "liquidated_short_count", "open_interest_change", "insurance_fund_change",
                        "backstop_notional", "adl_fills",
                        "stops_triggered")
        }
        total["cascade_rounds"] = max(p["cascade_rounds"] for p in per)
        total["transfers"] = len(self.venue.transfers())
        total["events"] = self.events
        total["wall_time_s"] = self.wall_time
        out["venue"] = total
        return out

    def _summary_of(self, s: Any, liq: Any, adl_fills: int, stops: Any,
                    backstop: tuple[float, float]) -> dict[str, Any]:
        last = s["last"][~np.isnan(s["last"])]
        n_s, n_liq = len(s["last"]), len(liq["notional"])
        notional = liq["notional"]
        longs = liq["side"] == "long"
        first = float(last[0]) if len(last) else float("nan")
        out: dict[str, Any] = {
            "first_price": first,
            "last_price": float(last[-1]) if len(last) else float("nan"),
            "peak_price": float(last.max()) if len(last) else float("nan"),
            "trough_price": float(last.min()) if len(last) else float("nan"),
        }
        for key in ("last", "peak", "trough"):
            out[f"{key}_change_pct"] = 100.0 * (out[f"{key}_price"] / first - 1.0) if len(last) else float("nan")
        out.update(
            liquidated_long_notional=float(notional[longs].sum()),
            liquidated_short_notional=float(notional[~longs].sum()),
            liquidated_long_count=int(longs.sum()),
            liquidated_short_count=int((~longs).sum()),
            open_interest_change=float(s["open_interest"][-1] - s["open_interest"][0]) if n_s else 0.0,
            insurance_fund_change=float(s["insurance_fund"][-1] - s["insurance_fund"][0]) if n_s else 0.0,
            backstop_position=backstop[0],
            backstop_notional=backstop[1],
            adl_fills=adl_fills,
            stops_triggered=int((stops["status"] == "triggered").sum()),
            cascade_rounds=int(liq["round"].max()) if n_liq else 0,
            events=self.events,
            wall_time_s=self.wall_time,
        )
        return out

    def plot(self, path: str | os.PathLike[str] | None = None, title: str | None = None) -> Any:
        """The cascade chart of this run (:func:`liqsim.plot.cascade`; needs matplotlib). ``path``
        also saves it as a PNG. Returns the matplotlib Figure."""
        from .plot import cascade

        return cascade(self, path=path, title=title)

    def __repr__(self) -> str:
        s = self.summary()
        if self.venue is not None:
            v = s["venue"]
            return (
                f"<liqsim.SimulationResult {', '.join(self.venue.symbols)}: {len(self.series)} samples, "
                f"{v['liquidated_long_count'] + v['liquidated_short_count']:,} liquidations>"
            )
        return (
            f"<liqsim.SimulationResult {len(self.series)} samples, {len(self.trades):,} trades, "
            f"{s['liquidated_long_count'] + s['liquidated_short_count']:,} liquidations, "
            f"last {s['last_price']:,.2f} ({s['last_change_pct']:+.2f}%)>"
        )


def _order_columns(scn: Scenario) -> dict[str, np.ndarray]:
    """The ``orders`` table as the core's columns (defaults filled in, codes for categories)."""
    t = scn.orders
    name = "orders"
    n = 0 if t is None else t.num_rows
    if t is None or n == 0:
        t = None

    def floats(column: str) -> np.ndarray:
        values = None if t is None else float_column(t, name, column)
        return np.full(n, np.nan) if values is None else values

    def ints(column: str, default: int) -> np.ndarray:
        values = None if t is None else int_column(t, name, column, default=default)
        return np.full(n, default, dtype=np.int64) if values is None else values

    def codes(column: str, mapping: dict[str, int], default: int) -> np.ndarray:
        values = None if t is None else code_column(t, name, column, mapping, default=default)
        return np.full(n, default, dtype=np.uint8) if values is None else values

    reduce_only = np.zeros(n, dtype=bool)
    if t is not None and "reduce_only" in t.column_names:
        reduce_only = np.ascontiguousarray(t.column("reduce_only").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    ts = None if t is None else time_column(t, name, "ts")
    return {
        "ts": np.zeros(0, dtype=np.int64) if ts is None else ts,
        "trader_id": np.zeros(0, dtype=np.int64) if t is None else int_column(t, name, "trader_id", required=True),
        "action": np.zeros(0, dtype=np.uint8) if t is None else code_column(t, name, "action", ACTION_CODES, required=True),
        "side": codes("side", SIDE_CODES, 255),
        "price": floats("price"),
        "qty": floats("qty"),
        "tif": codes("tif", _choices.TIF, 0),
        "reduce_only": reduce_only,
        "order_id": ints("order_id", -1),
        "trigger_price": floats("trigger_price"),
        "trigger_on": codes("trigger_on", TRIGGER_ON_CODES, 0),
        "trail": floats("trail"),
        "trail_fraction": floats("trail_fraction"),
        "oco_group": ints("oco_group", -1),
    }


def _index_columns(scn: Scenario) -> tuple[np.ndarray, np.ndarray]:
    t = scn.index
    if t is None or t.num_rows == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    ts = time_column(t, "index", "ts")
    if ts is None:
        raise scenario_error("index", "ts", None, "missing column")
    return ts, float_column(t, "index", "price", required=True)


def build_exchange(scenario: Scenario) -> Exchange:
    """The scenario's market at its start: the exchange with the book and accounts loaded.

    Raises :class:`liqsim.ScenarioError` if an account is already liquidatable at the start
    index (the first ``index`` row at ``start``), naming its row of the ``accounts`` table."""
    ex = Exchange(**scenario.market)
    if scenario.accounts is not None:
        ex.load_accounts(scenario.accounts)
    if scenario.book is not None:
        ex.load_book(scenario.book)
    index_ts, index_price = _index_columns(scenario)
    if len(index_ts) and index_ts[0] == scenario.start:
        crossed = _core.crossed_at(ex._ex, float(index_price[0]))
        if crossed:
            trader = crossed[0]
            accounts = scenario.accounts
            ids = np.asarray(accounts.column("trader_id").to_numpy(zero_copy_only=False)) if accounts is not None else np.zeros(0)
            rows = np.flatnonzero(ids == trader)
            raise scenario_error(
                "accounts", "balance", int(rows[0]) if len(rows) else None,
                f"trader {trader} is already below maintenance margin at the start (index {index_price[0]:,}); "
                f"{len(crossed)} account(s) would be liquidated before anything happens",
            )
    return ex


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    until: TimeLike | None = None,
    check_invariants: bool = False,
    keep_states: Sequence[TimeLike] = (),
) -> SimulationResult:
    """Run ``scenario`` in the core (the GIL is released) and return its results.

    Parameters
    ----------
    scenario : Scenario
    seed : int, optional
        Overrides the scenario's seed.
    until : time, optional
        Stop early (a time between the scenario's start and end).
    check_invariants : bool
        Check the exchange's invariants after every event (slow; raises
        :class:`liqsim.LiqsimError` at the first broken one).
    keep_states : times, optional
        Keep a copy of the whole market at the first sample at or after each of these times
        (:meth:`SimulationResult.state_at`; for several markets the whole venue,
        :meth:`SimulationResult.venue_state_at`): a liquidation map or a what-if from mid-run.
        Each copy holds the accounts, book and tapes so far: ask for the times you need.

    Example
    -------
    >>> import liqsim
    >>> scn = liqsim.Scenario(market={"mark_rule": "last"}, index={"ts": [0], "price": [3000.0]},
    ...                       agents=[liqsim.agents.MarketMaker(depth_10bp=1e6)], end=10.0)
    >>> res = liqsim.simulate(scn)
    >>> len(res.series), res.series["best_bid"][-1] < 3000.0 < res.series["best_ask"][-1]
    (11, True)
    """
    if seed is not None:
        scenario = scenario.replace(seed=seed)
    end = scenario.end
    if until is not None:
        end = time_ns("until", until)
        if not scenario.start < end <= scenario.end:
            err = ConfigError(f"until must be after start and not after end ({scenario.start}..{scenario.end} ns), got {until!r}")
            err.parameter = "until"
            raise err
    state_times = sorted(time_ns("keep_states", t) for t in keep_states)
    for t in state_times:
        if not scenario.start <= t <= end:
            err = ConfigError(f"keep_states: {t} ns is outside the run ({scenario.start}..{end} ns)")
            err.parameter = "keep_states"
            raise err
    if scenario.markets is not None:
        return _simulate_venue(scenario, end, check_invariants, state_times)
    ex = build_exchange(scenario)
    index_ts, index_price = _index_columns(scenario)
    keep = index_ts <= end
    started = time.perf_counter()
    raw = _core.simulate(
        ex._ex,
        _truncate(_order_columns(scenario), end),
        np.ascontiguousarray(index_ts[keep]),
        np.ascontiguousarray(index_price[keep]),
        [a._core(k) for k, a in enumerate(scenario.agents)],
        scenario.start,
        end,
        scenario.sample_every,
        scenario.seed,
        check_invariants,
        AGENT_BALANCE,
        state_times,
    )
    return SimulationResult(scenario, ex, raw, time.perf_counter() - started)


def _truncate(columns: dict[str, np.ndarray], end: int) -> dict[str, np.ndarray]:
    keep = columns["ts"] <= end
    if keep.all():
        return columns
    return {k: np.ascontiguousarray(c[keep]) for k, c in columns.items()}


def _rows(table: Table, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of ``table`` where ``mask`` holds, as plain columns (categories decoded)."""
    return {key: table[key][mask] for key in table.columns}


def build_venue(scenario: Scenario) -> MultiExchange:
    """The venue of a scenario of several markets at its start: a :class:`liqsim.MultiExchange`
    with each market's book rows and every account loaded (a trader with rows in several markets
    is one cross account).

    >>> # venue = liqsim.simulation.build_venue(liqsim.scenarios.load("btc-eth-spillover"))
    """
    markets = scenario.markets
    if markets is None:
        raise ConfigError("build_venue needs a scenario of several markets")
    venue = MultiExchange({symbol: Exchange(**params) for symbol, params in markets.items()})
    if scenario.accounts is not None:
        venue.load_accounts(scenario.accounts)
    if scenario.book is not None:
        codes = _symbol_codes(scenario, scenario.book, "book")
        for k, symbol in enumerate(venue.symbols):
            rows = np.flatnonzero(codes == k)
            if len(rows):
                venue.load_book(symbol, scenario.book.take(rows).drop_columns(["symbol"]))
    return venue


def _symbol_codes(scenario: Scenario, t: Any, table: str) -> np.ndarray:
    mapping = {s.lower(): k for k, s in enumerate(scenario.symbols)}
    return code_column(t, table, "symbol", mapping, required=True).astype(np.uint32)


def _venue_tables(scenario: Scenario, end: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A venue scenario's ``orders`` columns and their symbol codes, and its index columns
    (ts, price, symbol code), rows after ``end`` dropped: what the core's venue runs take."""
    orders = _order_columns(scenario)
    order_symbol = (
        _symbol_codes(scenario, scenario.orders, "orders")
        if scenario.orders is not None and scenario.orders.num_rows
        else np.zeros(0, dtype=np.uint32)
    )
    keep = orders["ts"] <= end
    orders = {k: np.ascontiguousarray(c[keep]) for k, c in orders.items()}
    order_symbol = np.ascontiguousarray(order_symbol[keep])
    index_ts, index_price = _index_columns(scenario)
    index_symbol = (
        _symbol_codes(scenario, scenario.index, "index") if len(index_ts) else np.zeros(0, dtype=np.uint32)
    )
    keep_i = index_ts <= end
    return (orders, order_symbol, np.ascontiguousarray(index_ts[keep_i]), np.ascontiguousarray(index_price[keep_i]),
            np.ascontiguousarray(index_symbol[keep_i]))


def _venue_agents(scenario: Scenario, agents: Sequence[Any]) -> list[tuple[int, dict[str, Any]]]:
    """``agents`` (of a venue scenario) as the core's (symbol code, agent dict) pairs."""
    codes = {s.upper(): k for k, s in enumerate(scenario.symbols)}
    out: list[tuple[int, dict[str, Any]]] = []
    for k, a in enumerate(agents):
        d = a._core(k)
        if d["type"] == "cross_momentum_taker":
            d["leader_code"] = codes[str(d["leader"]).upper()]
            d["follower_code"] = codes[str(d["follower"]).upper()]
            out.append((d["follower_code"], d))
        else:
            out.append((codes[str(d["symbol"]).upper()], d))
    return out


def _simulate_venue(scenario: Scenario, end: int, check_invariants: bool, state_times: list[int]) -> SimulationResult:
    venue = build_venue(scenario)
    orders, order_symbol, index_ts, index_price, index_symbol = _venue_tables(scenario, end)
    agents = _venue_agents(scenario, scenario.agents)
    started = time.perf_counter()
    raw = _core.simulate_venue(
        venue._v,
        orders,
        order_symbol,
        index_ts,
        index_price,
        index_symbol,
        agents,
        scenario.start,
        end,
        scenario.sample_every,
        scenario.seed,
        check_invariants,
        AGENT_BALANCE,
        state_times,
    )
    return SimulationResult(scenario, None, raw, time.perf_counter() - started, venue=venue)


def correlated_index(
    start_prices: Mapping[str, float],
    vols: Mapping[str, float],
    correlation: Any,
    *,
    end: TimeLike | DurationLike,
    start: TimeLike = 0,
    step: DurationLike = 1.0,
    tick_sizes: Mapping[str, float] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Seeded correlated index paths, one per market, as an ``index`` table for
    :class:`liqsim.Scenario`: driftless geometric Brownian motion whose log-returns have the
    annualised volatilities ``vols`` (over 365-day calendar years: 0.6 = 60 %) and the correlation
    matrix ``correlation`` (in the order of ``start_prices``; symmetric, ones on the diagonal,
    positive definite). A row per market every ``step`` (float seconds, int ns, timedelta) from
    ``start`` (the start prices) through ``end`` (a time, or a duration from ``start``), prices
    rounded to each market's tick (``tick_sizes``, default 0.01). The same arguments give the same
    rows (one ChaCha stream of ``seed``).

    >>> import liqsim
    >>> idx = liqsim.correlated_index({"BTCUSDT": 60000.0, "ETHUSDT": 3000.0}, {"BTCUSDT": 0.6, "ETHUSDT": 0.8},
    ...                               [[1.0, 0.8], [0.8, 1.0]], end=10.0, tick_sizes={"BTCUSDT": 0.1})
    >>> len(idx["ts"]), list(idx["symbol"][:2]), float(idx["price"][0])
    (22, ['BTCUSDT', 'ETHUSDT'], 60000.0)
    """
    from .scenario import _end_ns

    symbols = list(start_prices)
    if not symbols or set(vols) != set(symbols):
        err = ConfigError(f"vols must give one volatility per market of start_prices {symbols}, got {list(vols)}")
        err.parameter = "vols"
        raise err
    ticks = dict(tick_sizes or {})
    unknown = set(ticks) - set(symbols)
    if unknown:
        err = ConfigError(f"tick_sizes names markets not in start_prices: {sorted(unknown)}")
        err.parameter = "tick_sizes"
        raise err
    matrix = np.asarray(correlation, dtype=np.float64)
    if matrix.shape != (len(symbols), len(symbols)):
        err = ConfigError(f"correlation must be {len(symbols)} × {len(symbols)}, got shape {matrix.shape}")
        err.parameter = "correlation"
        raise err
    start_ns = time_ns("start", start)
    raw = _core.correlated_index(
        [float(start_prices[s]) for s in symbols],
        [float(ticks.get(s, 0.01)) for s in symbols],
        [float(vols[s]) for s in symbols],
        [float(x) for x in matrix.ravel()],
        start_ns,
        _end_ns(start_ns, end),
        duration_ns("step", step),
        int(seed),
    )
    return {"ts": raw["ts"], "symbol": np.asarray(symbols, dtype=object)[raw["symbol"]], "price": raw["price"]}
