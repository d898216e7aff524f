"""`liqsim.simulate`: run a :class:`liqsim.Scenario` in the core and read the market over time."""

from __future__ import annotations

import time
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

#: Order actions the simulation understands (stop orders are not implemented yet).
ACTION_CODES = {"limit": 0, "market": 1, "cancel": 2}
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
        self.events: int = int(raw["events"])
        self.agent_actions: int = int(raw["agent_actions"])
        #: Rows of the scenario's ``orders`` table that the exchange refused (margin, reduce-only, …).
        self.refused_orders: np.ndarray = raw["refused_orders"]
        self.wall_time = wall_time

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

    def summary(self) -> dict[str, Any]:
        """Headline figures: price path (first, last, peak, trough of the last price and their
        change in %), liquidated notional (quote) and count by side, open-interest change,
        insurance fund change, ADL fills, deepest cascade round, events processed, wall time (s).

        Liquidated notional is quantity × average fill price (the bankruptcy price where the
        book filled nothing)."""
        s = self.series
        last = s["last"][~np.isnan(s["last"])]
        liq = self.liquidations
        price = np.where(np.isnan(liq["avg_fill_price"]), liq["bankruptcy_price"], liq["avg_fill_price"])
        notional = liq["qty"] * price
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
            cascade_rounds=int(liq["round"].max()) if len(liq) else 0,
            events=self.events,
            wall_time_s=self.wall_time,
        )
        return out

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<liqsim.SimulationResult {len(self.series)} samples, {len(self.trades):,} trades, "
            f"{s['liquidated_long_count'] + s['liquidated_short_count']:,} liquidations, "
            f"last {s['last_price']:,.2f} ({s['last_change_pct']:+.2f}%)>"
        )


def _order_columns(scn: Scenario) -> tuple[np.ndarray, ...]:
    t = scn.orders
    name = "orders"
    if t is None or t.num_rows == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_u = np.zeros(0, dtype=np.uint8)
        empty_f = np.zeros(0, dtype=np.float64)
        return (empty_i, empty_i, empty_u, empty_u, empty_f, empty_f, empty_u, np.zeros(0, dtype=bool), empty_i)
    n = t.num_rows
    ts = time_column(t, name, "ts")
    trader = int_column(t, name, "trader_id", required=True)
    action = code_column(t, name, "action", ACTION_CODES, required=True)
    side = code_column(t, name, "side", SIDE_CODES)
    price = float_column(t, name, "price")
    qty = float_column(t, name, "qty")
    tif = code_column(t, name, "tif", _choices.TIF, default=0)
    reduce_only = t.column("reduce_only").to_numpy(zero_copy_only=False) if "reduce_only" in t.column_names else None
    order_id = int_column(t, name, "order_id", default=-1)
    return (
        ts,
        trader,
        action,
        np.full(n, 255, dtype=np.uint8) if side is None else side,
        np.full(n, np.nan) if price is None else price,
        np.full(n, np.nan) if qty is None else qty,
        np.zeros(n, dtype=np.uint8) if tif is None else tif,
        np.zeros(n, dtype=bool) if reduce_only is None else np.ascontiguousarray(reduce_only, dtype=bool),
        np.full(n, -1, dtype=np.int64) if order_id is None else order_id,
    )


def _index_columns(scn: Scenario) -> tuple[np.ndarray, np.ndarray]:
    t = scn.index
    if t is None or t.num_rows == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return time_column(t, "index", "ts"), float_column(t, "index", "price", required=True)


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
        probe = ex.copy()
        probe.set_index(float(index_price[0]))
        liq = probe.liquidations()
        if len(liq):
            trader = int(liq["trader_id"][0])
            ids = np.asarray(scenario.accounts.column("trader_id").to_numpy(zero_copy_only=False)) if scenario.accounts is not None else np.zeros(0)
            rows = np.flatnonzero(ids == trader)
            raise scenario_error(
                "accounts", "balance", int(rows[0]) if len(rows) else None,
                f"trader {trader} is already below maintenance margin at the start (index {index_price[0]:,}); "
                f"{len(liq)} account(s) would be liquidated before anything happens",
            )
    return ex


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    until: TimeLike | None = None,
    check_invariants: bool = False,
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
    ex = build_exchange(scenario)
    index_ts, index_price = _index_columns(scenario)
    keep = index_ts <= end
    started = time.perf_counter()
    raw = _core.simulate(
        ex._ex,
        _order_columns(scenario) if until is None else _truncate(_order_columns(scenario), end),
        np.ascontiguousarray(index_ts[keep]),
        np.ascontiguousarray(index_price[keep]),
        [a._core(k) for k, a in enumerate(scenario.agents)],
        scenario.start,
        end,
        scenario.sample_every,
        scenario.seed,
        check_invariants,
        AGENT_BALANCE,
    )
    return SimulationResult(scenario, ex, raw, time.perf_counter() - started)


def _truncate(columns: tuple[np.ndarray, ...], end: int) -> tuple[np.ndarray, ...]:
    keep = columns[0] <= end
    return tuple(np.ascontiguousarray(c[keep]) for c in columns)
