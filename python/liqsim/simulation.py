"""`liqsim.simulate`: run a :class:`liqsim.Scenario` in the core and read the market over time."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _choices, _core
from ._tables import code_column, float_column, int_column, scenario_error, time_column
from ._time import TimeLike, time_ns
from .book import SIDE_CODES
from .errors import ConfigError
from .exchange import Exchange
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

    def __init__(self, scenario: Scenario, exchange: Exchange, raw: dict[str, Any], wall_time: float) -> None:
        self.scenario = scenario
        self.exchange = exchange
        self.series = Table(raw["series"], timestamps=["ts"], name="series")
        #: Events processed: index updates, scenario orders and agent wake-ups.
        self.events: int = int(raw["events"])
        #: Orders, cancels and index updates the agents sent when they woke.
        self.agent_actions: int = int(raw["agent_actions"])
        #: Rows of the scenario's ``orders`` table that the exchange refused (margin, reduce-only, …).
        self.refused_orders: np.ndarray = raw["refused_orders"]
        self.wall_time = wall_time
        self._states: list[tuple[int, Exchange]] = [(int(ts), Exchange._wrap(core)) for ts, core in raw["states"]]

    @property
    def state_times(self) -> list[int]:
        """Times (ns) of the market copies kept with ``simulate(..., keep_states=...)``."""
        return [ts for ts, _ in self._states]

    def state_at(self, t: TimeLike) -> Exchange:
        """A copy of the market as it was at the kept state at or before ``t`` (see
        ``simulate(..., keep_states=...)``); the result stays unchanged when you act on it.

        >>> # res = liqsim.simulate(scn, keep_states=[30 * 10**9]); liqsim.liquidation_map(res.state_at(30 * 10**9))
        """
        target = time_ns("t", t)
        before = [ex for ts, ex in self._states if ts <= target]
        if not before:
            err = ConfigError(
                f"no market state kept at or before {target} ns; kept: {self.state_times} "
                "(pass keep_states=[...] to simulate)"
            )
            err.parameter = "t"
            raise err
        return before[-1].copy()

    @property
    def trades(self) -> Table:
        return self.exchange.trades()

    @property
    def liquidations(self) -> Table:
        return self.exchange.liquidations()

    @property
    def accounts(self) -> Table:
        return self.exchange.accounts()

    @property
    def funding(self) -> Table:
        return self.exchange.funding()

    @property
    def adl(self) -> Table:
        return self.exchange.adl()

    @property
    def insurance(self) -> Table:
        return self.exchange.insurance()

    @property
    def stops(self) -> Table:
        """Stops triggered, refused or cancelled (see :meth:`liqsim.Exchange.stops`)."""
        return self.exchange.stops()

    def summary(self) -> dict[str, Any]:
        """Headline figures: price path (first, last, peak, trough of the last price and their
        change in %), liquidated notional (quote) and count by side, open-interest change,
        insurance fund change, ADL fills, stops triggered, deepest cascade round, events processed,
        wall time (s).

        Liquidated notional is quantity × average fill price (the bankruptcy price where the
        book filled nothing)."""
        s = self.series
        last = s["last"][~np.isnan(s["last"])]
        liq = self.liquidations
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
            open_interest_change=float(s["open_interest"][-1] - s["open_interest"][0]) if len(s) else 0.0,
            insurance_fund_change=float(s["insurance_fund"][-1] - s["insurance_fund"][0]) if len(s) else 0.0,
            adl_fills=len(self.adl),
            stops_triggered=int((self.stops["status"] == "triggered").sum()),
            cascade_rounds=int(liq["round"].max()) if len(liq) else 0,
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
        (:meth:`SimulationResult.state_at`): a liquidation map or a what-if from mid-run. Each
        copy holds the accounts, book and tapes so far: ask for the times you need.

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
