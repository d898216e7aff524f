"""`liqsim.Scenario`: a market, its starting state, what happens to it, and for how long.

A scenario is a ``market`` mapping (the same names as :class:`liqsim.Exchange`), four tables
(``book``, ``accounts``, ``orders``, ``index``: anything Arrow-compatible or a dict of arrays),
a list of agents (:mod:`liqsim.agents`), and times. It is immutable: change a part with
:meth:`Scenario.replace`. It saves to a directory (``scenario.json`` + one Parquet file per
table) and loads back to byte-identical results.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from . import agents as _agents
from ._choices import did_you_mean
from ._tables import as_table, check_columns, code_column, float_column, scenario_error, time_column
from ._time import DurationLike, TimeLike, duration_ns, time_ns
from .errors import ConfigError
from .book import SIDE_CODES
from .exchange import ACCOUNT_COLUMNS, BOOK_COLUMNS, Exchange

#: Format version written into ``scenario.json``.
FORMAT_VERSION = 1
#: Columns of the ``orders`` table (all but ts, trader_id and action optional).
ORDER_COLUMNS = (
    "ts", "trader_id", "action", "side", "price", "qty", "tif", "reduce_only", "order_id",
    "trigger_price", "trigger_on", "trail", "trail_fraction", "oco_group", "symbol",
)
INDEX_COLUMNS = ("ts", "price", "symbol")
#: The parameters of ``market``: those of :class:`liqsim.Exchange`.
MARKET_KEYS = tuple(p for p in inspect.signature(Exchange.__init__).parameters if p != "self")
_TABLES = ("book", "accounts", "orders", "index")


def _config_error(parameter: str, message: str) -> ConfigError:
    err = ConfigError(message)
    err.parameter = parameter
    return err


#: Columns a real book may have: ``side``, ``price``, ``qty`` and the derived ``notional`` of
#: :meth:`liqsim.io.L2Replay.book_at` (dropped: the exchange values levels itself).
REAL_BOOK_COLUMNS = ("side", "price", "qty", "notional")


def _grid_step(argument: str, given: float | None, inferred: float) -> float:
    if given is None:
        return inferred
    if isinstance(given, bool) or not isinstance(given, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(given) and given > 0):
        raise _config_error(argument, f"{argument} must be a finite number > 0, got {given!r}")
    return float(given)


def _off_grid(values: np.ndarray, step: float) -> np.ndarray:
    """Rows of ``values`` that are not whole multiples of ``step`` (to 1e-6 of a step: a float's
    rounding is not a different price)."""
    k = values / step
    return np.flatnonzero(np.abs(k - np.round(k)) > 1e-6)


def real_book(
    book: object, tick_size: float | None = None, lot_size: float | None = None
) -> tuple[dict[str, np.ndarray], float, float, float, float]:
    """A real order book checked and put on its grid, for :meth:`Scenario.from_book` and
    ``liqsim.scenarios.build(book=...)``.

    ``book`` is :meth:`liqsim.io.L2Replay.book_at`'s table or any table with ``side`` (bid/ask or
    buy/sell), ``price`` and ``qty`` (base units). The tick and lot are the largest steps that divide
    every price and quantity (:func:`liqsim.io.book_grid`; a Binance BTCUSDT book gives 0.1 and
    0.001) unless given; a level off the given grid, a non-positive price or quantity, a one-sided
    or crossed book raise :class:`liqsim.ScenarioError` naming the row.

    Returns ``(columns, tick_size, lot_size, best_bid, best_ask)``; ``columns`` has ``side`` (as
    ``"bid"``/``"ask"``), ``price`` and ``qty`` on the grid.

    Example
    -------
    >>> cols, tick, lot, bid, ask = real_book({"side": ["bid", "ask"], "price": [64999.9, 65000.0],
    ...                                        "qty": [1.234, 0.501]})
    >>> tick, lot, bid, ask
    (0.1, 0.001, 64999.9, 65000.0)
    """
    from .io import book_grid

    t = as_table(book, "book")
    if "base_qty" in t.column_names:
        raise scenario_error(
            "book", "base_qty", None,
            "a COIN-M book (quantities in contracts): liqsim's exchange simulates linear (USDⓈ-M) contracts only",
        )
    check_columns(t, "book", REAL_BOOK_COLUMNS)
    side = code_column(t, "book", "side", SIDE_CODES, required=True)
    price = float_column(t, "book", "price", required=True)
    qty = float_column(t, "book", "qty", required=True)
    for name, values in (("price", price), ("qty", qty)):
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if len(bad):
            r = int(bad[0])
            raise scenario_error("book", name, r, f"{values[r]} must be a finite number > 0")
    bids, asks = side == 0, side == 1
    if not bids.any() or not asks.any():
        raise scenario_error("book", "side", None, f"the book needs bids and asks to have a mid ({int(bids.sum())} bids, {int(asks.sum())} asks)")
    tick_inferred, lot_inferred = book_grid({"price": price, "qty": qty})
    tick = _grid_step("tick_size", tick_size, tick_inferred)
    lot = _grid_step("lot_size", lot_size, lot_inferred)
    for name, values, step, arg in (("price", price, tick, "tick_size"), ("qty", qty, lot, "lot_size")):
        bad = _off_grid(values, step)
        if len(bad):
            r = int(bad[0])
            raise scenario_error("book", name, r, f"{values[r]} is not a multiple of {arg} {step:g}")
    # Snap to the grid exactly (what the exchange will hold), so the mid and prices compare equal.
    price = np.round(price / tick) * tick
    qty = np.round(qty / lot) * lot
    best_bid, best_ask = float(price[bids].max()), float(price[asks].min())
    if best_bid >= best_ask:
        r = int(np.flatnonzero(bids & (price >= best_ask))[0])
        raise scenario_error("book", "price", r, f"bid {price[r]} is at or above the best ask {best_ask} (a crossed book)")
    columns = {"side": np.where(bids, "bid", "ask"), "price": price, "qty": qty}
    return columns, tick, lot, best_bid, best_ask


def _end_ns(start: int, end: object) -> int:
    """``end`` as a time; a duration type (timedelta, float seconds, …) counts from ``start``."""
    if isinstance(end, (float, np.floating, _dt.timedelta, np.timedelta64)) or type(end).__name__ == "Timedelta":
        return start + duration_ns("end", end)
    return time_ns("end", end)


class Scenario:
    """A simulation to run: market, starting book and accounts, exogenous orders and index path,
    agents, start/end times, sampling interval and seed.

    Parameters
    ----------
    market : mapping
        Keyword arguments of :class:`liqsim.Exchange` (``venue``, ``symbol``, ``tick_size``,
        ``lot_size``, ``insurance_fund``, ``mark_rule``, ``tiers``, ``fees``, …). Several markets
        sharing cross margin (a :class:`liqsim.MultiExchange`): symbol → those arguments, e.g.
        ``{"BTCUSDT": {"tick_size": 0.1}, "ETHUSDT": {}}``; then every table needs a ``symbol``
        column (an unknown symbol raises :class:`liqsim.ScenarioError` naming table, column and
        row), every agent a ``symbol``, and a trader with ``accounts`` rows in several markets is
        one cross account.
    book : table, optional
        Resting orders at the start (as :meth:`liqsim.Exchange.load_book`).
    accounts : table, optional
        Traders at the start (as :meth:`liqsim.Exchange.load_accounts`).
    orders : table, optional
        Exogenous actions, sorted by ``ts`` (int ns or timestamp): ``trader_id``, ``action``
        (limit / market / cancel / stop_market / stop_limit / trailing_stop), ``side``, ``price``
        (limit price; a market row's protection bound), ``qty``, ``tif`` (default gtc),
        ``reduce_only`` (default false), ``order_id`` (your name for an order or stop, so that a
        later ``cancel`` row can name it), and for stops ``trigger_price``, ``trigger_on``
        (last / mark, default last), ``trail`` (a price distance) or ``trail_fraction`` (of the
        best price seen) for trailing stops, ``oco_group`` (stops of one group cancel each other
        when one triggers).
    index : table, optional
        The index (spot) path: ``ts``, ``price`` (and ``symbol`` with several markets). Sorted by
        ``ts``. :func:`liqsim.correlated_index` draws seeded correlated paths for several markets.
    agents : list of :mod:`liqsim.agents` specs or dicts
    start, end : time
        int ns since the epoch, ``datetime``, numpy ``datetime64`` or pandas ``Timestamp``;
        ``end`` may also be a duration (``timedelta``, float seconds) counted from ``start``.
    sample_every : duration
        Interval of the result's ``series`` (float seconds, int ns, ``timedelta``, …).
    seed : int
        Root of all randomness (one ChaCha stream per agent).

    Example
    -------
    >>> import liqsim
    >>> scn = liqsim.Scenario(
    ...     market={"venue": "binance", "symbol": "ETHUSDT", "mark_rule": "last"},
    ...     index={"ts": [0], "price": [3000.0]},
    ...     agents=[liqsim.agents.MarketMaker(depth_10bp=1e6)],
    ...     end=60.0, sample_every=1.0, seed=7)
    >>> scn.end
    60000000000
    """

    def __init__(
        self,
        market: Mapping[str, Any] | None = None,
        book: object | None = None,
        accounts: object | None = None,
        orders: object | None = None,
        index: object | None = None,
        agents: Sequence[Any] = (),
        start: TimeLike = 0,
        end: TimeLike | DurationLike = 3600.0,
        sample_every: DurationLike = 1.0,
        seed: int = 0,
    ) -> None:
        market = dict(market or {})
        # Several instruments: {symbol: {Exchange parameters}}; one: the parameters themselves.
        self._markets: dict[str, dict[str, Any]] | None = None
        if market and all(isinstance(v, Mapping) for v in market.values()) and not any(k in MARKET_KEYS for k in market):
            self._markets = {}
            for symbol, params in market.items():
                params = dict(params)
                if not isinstance(symbol, str) or not symbol:
                    raise _config_error("market", f"market symbols must be non-empty strings, got {symbol!r}")
                if str(params.get("symbol", symbol)).upper() != symbol.upper():
                    raise _config_error("market", f"market {symbol!r} names another symbol {params['symbol']!r}")
                for key in params:
                    if key not in MARKET_KEYS:
                        raise _config_error("market", f"market {symbol!r}: unknown parameter {key!r}{did_you_mean(key, MARKET_KEYS)}; accepted: {list(MARKET_KEYS)}")
                self._markets[symbol] = {**params, "symbol": symbol}
            if len({k.upper() for k in self._markets}) != len(self._markets):
                raise _config_error("market", f"market symbols must differ (ignoring case), got {list(self._markets)}")
            market = {k: dict(v) for k, v in self._markets.items()}
        else:
            for key in market:
                if key not in MARKET_KEYS:
                    raise _config_error("market", f"unknown market parameter {key!r}{did_you_mean(key, MARKET_KEYS)}; accepted: {list(MARKET_KEYS)}")
        self._market = market
        self._symbol = "+".join(self._markets) if self._markets else str(market.get("symbol", "ETHUSDT"))
        self._start = time_ns("start", start)
        self._end = _end_ns(self._start, end)
        if self._end <= self._start:
            raise _config_error("end", f"end must be after start ({self._start} ns), got {end!r} = {self._end} ns")
        self._sample_every = duration_ns("sample_every", sample_every)
        if self._sample_every <= 0:
            raise _config_error("sample_every", f"sample_every must be > 0, got {sample_every!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
            raise _config_error("seed", f"seed must be an integer in [0, 2**64), got {seed!r}")
        self._seed = int(seed)
        self._agents = _agents.normalise(agents)
        self._check_agent_symbols()
        self._tables: dict[str, pa.Table | None] = {
            "book": self._table("book", book, BOOK_COLUMNS + ("symbol",)),
            "accounts": self._table("accounts", accounts, ACCOUNT_COLUMNS + ("symbol",)),
            "orders": self._table("orders", orders, ORDER_COLUMNS),
            "index": self._table("index", index, INDEX_COLUMNS),
        }
        for name in ("orders", "index"):
            self._check_times(name)
        self._check_index_prices()

    @classmethod
    def from_book(
        cls,
        book: object,
        *,
        symbol: str,
        venue: str = "binance",
        tick_size: float | None = None,
        lot_size: float | None = None,
        accounts: object | None = None,
        index: object | float | None = None,
        orders: object | None = None,
        agents: Sequence[Any] = (),
        market: Mapping[str, Any] | None = None,
        start: TimeLike = 0,
        end: TimeLike | DurationLike = 3600.0,
        sample_every: DurationLike = 1.0,
        seed: int = 0,
    ) -> Scenario:
        """A scenario that starts from a real order book.

        ``book`` is the book at the chosen time — :meth:`liqsim.io.L2Replay.book_at` of a replayed
        Binance stream, or any table of ``side``, ``price``, ``qty`` (base units) — and becomes the
        resting liquidity at the start (the background liquidity account's orders: taken depth
        does not come back unless an agent such as :class:`liqsim.agents.MarketMaker` adds it).
        ``tick_size`` and ``lot_size`` are inferred from the levels (the largest steps dividing
        every price and quantity: 0.1 and 0.001 for Binance BTCUSDT) unless given; a level off the
        grid raises :class:`liqsim.ScenarioError` naming its row (see :func:`real_book`).

        ``index`` is a table (``ts``, ``price``), a price, or by default the book's mid (rounded to
        the tick) at ``start``. ``accounts`` is your table (as :meth:`liqsim.Exchange.load_accounts`);
        for a population with clusters placed relative to the real mid use
        ``liqsim.scenarios.build(book=...)``. ``market`` holds other :class:`liqsim.Exchange`
        parameters (``insurance_fund``, ``mark_rule``, ``tiers``, ``fees``, …); the rest is as
        :class:`Scenario`.

        Example
        -------
        >>> import liqsim
        >>> book = {"side": ["bid", "bid", "ask", "ask"], "price": [64999.9, 64999.5, 65000.1, 65000.7],
        ...         "qty": [1.5, 2.001, 0.8, 3.25]}
        >>> scn = liqsim.Scenario.from_book(book, symbol="BTCUSDT", end=60.0)
        >>> scn.market["tick_size"], scn.market["lot_size"], scn.index["price"][0].as_py()
        (0.1, 0.001, 65000.0)
        """
        extra = dict(market or {})
        for key in ("venue", "symbol", "tick_size", "lot_size"):
            if key in extra:
                raise _config_error("market", f"give {key} as from_book's argument, not in market")
        columns, tick, lot, best_bid, best_ask = real_book(book, tick_size, lot_size)
        start_ns = time_ns("start", start)
        if index is None or isinstance(index, (int, float, np.integer, np.floating)) and not isinstance(index, bool):
            level = (best_bid + best_ask) / 2 if index is None else float(index)
            if not (math.isfinite(level) and level > 0):
                raise _config_error("index", f"index must be a finite price > 0, got {index!r}")
            index = {"ts": np.array([start_ns], dtype=np.int64), "price": np.array([round(level / tick) * tick])}
        full = {"venue": venue, "symbol": symbol, "tick_size": tick, "lot_size": lot, **extra}
        return cls(market=full, book=columns, accounts=accounts, orders=orders, index=index, agents=agents,
                   start=start_ns, end=end, sample_every=sample_every, seed=seed)

    def _table(self, name: str, data: object | None, accepted: Sequence[str]) -> pa.Table | None:
        if data is None:
            return None
        t = as_table(data, name)
        check_columns(t, name, accepted)
        if self._markets is not None:
            if "symbol" not in t.column_names:
                raise scenario_error(name, "symbol", None, f"missing column: a scenario of several markets needs the symbol of every row ({list(self._markets)})")
            known = {k.upper() for k in self._markets}
            for r, value in enumerate(t.column("symbol").to_pylist()):
                if value is None or str(value).upper() not in known:
                    raise scenario_error(name, "symbol", r, f"{value!r} is not one of the markets {list(self._markets)}")
            return t
        if "symbol" in t.column_names:
            symbols = {str(s).upper() for s in t.column("symbol").to_pylist() if s is not None}
            other = symbols - {self._symbol.upper()}
            if other:
                raise scenario_error(
                    name, "symbol", None,
                    f"symbol {sorted(other)[0]!r} is not the market's {self._symbol!r} (one instrument per scenario for now)",
                )
            t = t.drop_columns(["symbol"])
        return t

    def _check_times(self, name: str) -> None:
        t = self._tables[name]
        if t is None:
            return
        ts = time_column(t, name, "ts")
        if ts is None:
            raise scenario_error(name, "ts", None, "missing column")
        if len(ts):
            back = np.flatnonzero(np.diff(ts) < 0)
            if len(back):
                raise scenario_error(name, "ts", int(back[0]) + 1, "timestamps must not go backwards")
            outside = np.flatnonzero((ts < self._start) | (ts > self._end))
            if len(outside):
                r = int(outside[0])
                raise scenario_error(name, "ts", r, f"{ts[r]} ns is outside [start, end] = [{self._start}, {self._end}]")

    def _check_agent_symbols(self) -> None:
        markets = list(self._markets) if self._markets is not None else [self._symbol]
        known = {m.upper(): m for m in markets}
        for a in self._agents:
            named = [getattr(a, "symbol", None)]
            if isinstance(a, _agents.CrossMomentumTaker):
                if self._markets is None:
                    raise _config_error("agents", f"{a.name}: a cross momentum taker needs a scenario of several markets")
                named = [a.leader, a.follower]
            elif self._markets is not None and named[0] is None:
                raise _config_error("agents", f"{a.name}: give the symbol it trades (one of {markets}) in a scenario of several markets")
            for symbol in named:
                if symbol is not None and str(symbol).upper() not in known:
                    raise _config_error("agents", f"{a.name}: symbol {symbol!r} is not one of the markets {markets}{did_you_mean(str(symbol), markets)}")

    @property
    def markets(self) -> dict[str, dict[str, Any]] | None:
        """The markets of a scenario of several (symbol → :class:`liqsim.Exchange` parameters, a
        copy), or None for a one-market scenario."""
        return None if self._markets is None else {k: dict(v) for k, v in self._markets.items()}

    @property
    def symbols(self) -> list[str]:
        """The symbols of the scenario's markets (one for a one-market scenario)."""
        return list(self._markets) if self._markets is not None else [self._symbol]

    def _check_index_prices(self) -> None:
        t = self._tables["index"]
        if t is None:
            return
        price = float_column(t, "index", "price", required=True)
        bad = np.flatnonzero(~(np.isfinite(price) & (price > 0)))
        if len(bad):
            r = int(bad[0])
            raise scenario_error("index", "price", r, f"{price[r]} must be a finite price > 0")

    # --- the parts ---------------------------------------------------------------------------

    @property
    def market(self) -> dict[str, Any]:
        """The market parameters (a copy); for several markets, symbol → parameters."""
        if self._markets is not None:
            return {k: dict(v) for k, v in self._markets.items()}
        return dict(self._market)

    @property
    def book(self) -> pa.Table | None:
        return self._tables["book"]

    @property
    def accounts(self) -> pa.Table | None:
        return self._tables["accounts"]

    @property
    def orders(self) -> pa.Table | None:
        return self._tables["orders"]

    @property
    def index(self) -> pa.Table | None:
        return self._tables["index"]

    @property
    def agents(self) -> tuple[_agents.AgentSpec, ...]:
        return self._agents

    @property
    def start(self) -> int:
        """Start, ns since the epoch."""
        return self._start

    @property
    def end(self) -> int:
        """End, ns since the epoch."""
        return self._end

    @property
    def sample_every(self) -> int:
        """Series interval, ns."""
        return self._sample_every

    @property
    def seed(self) -> int:
        return self._seed

    def _parts(self) -> dict[str, Any]:
        return {
            "market": self._market,
            **self._tables,
            "agents": self._agents,
            "start": self._start,
            "end": self._end,
            "sample_every": self._sample_every,
            "seed": self._seed,
        }

    def replace(self, **changes: Any) -> Scenario:
        """A new scenario with some parts changed, e.g. ``scn.replace(seed=2, book=thin_book)``."""
        parts = self._parts()
        for key in changes:
            if key not in parts:
                raise _config_error("replace", f"a scenario has no part {key!r}{did_you_mean(key, parts)}; parts: {list(parts)}")
        parts.update(changes)
        return Scenario(**parts)

    def __repr__(self) -> str:
        rows = ", ".join(f"{k} {len(t):,} rows" for k, t in self._tables.items() if t is not None)
        agents = ", ".join(a.name for a in self._agents) or "no agents"
        span = (self._end - self._start) / 1e9
        venue = next(iter(self._markets.values())).get("venue", "binance") if self._markets else self._market.get("venue", "binance")
        return f"<liqsim.Scenario {venue} {self._symbol}: {rows or 'no tables'}; {agents}; {span:,.0f} s, seed {self._seed}>"

    # --- on disk ----------------------------------------------------------------------------

    def _plain_market(self) -> dict[str, Any]:
        """The market parameters as JSON can hold them (a copy; for several markets, symbol →
        parameters): a tier table as a dict of columns, fees as a list. What :meth:`save` writes
        and what a sweep ships to remote workers (``liqsim.sweep.pack_scenario``)."""
        def plain(params: dict[str, Any]) -> dict[str, Any]:
            params = dict(params)
            if params.get("tiers") is not None:
                tiers = as_table(params["tiers"], "tiers")
                params["tiers"] = {c: tiers.column(c).to_pylist() for c in tiers.column_names}
            if params.get("fees") is not None:
                params["fees"] = list(params["fees"])
            return params

        if self._markets is not None:
            return {k: plain(v) for k, v in self._markets.items()}
        return plain(self._market)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``scenario.json`` (market, agents, times, seed, format version) and one Parquet
        file per table into directory ``path`` (created if needed)."""
        import pyarrow.parquet as pq

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        doc = {
            "format_version": FORMAT_VERSION,
            "market": self._plain_market(),
            "agents": [a.to_dict() for a in self._agents],
            "start": self._start,
            "end": self._end,
            "sample_every": self._sample_every,
            "seed": self._seed,
            "tables": [name for name, t in self._tables.items() if t is not None],
        }
        (directory / "scenario.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        for name, t in self._tables.items():
            target = directory / f"{name}.parquet"
            if t is not None:
                pq.write_table(t, target)
            elif target.exists():
                target.unlink()
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Scenario:
        """Read a directory written by :meth:`save`."""
        import pyarrow.parquet as pq

        directory = Path(path)
        try:
            doc = json.loads((directory / "scenario.json").read_text())
        except FileNotFoundError:
            raise _config_error("path", f"{directory} has no scenario.json (is it a saved scenario?)") from None
        except json.JSONDecodeError as exc:
            raise _config_error("path", f"{directory / 'scenario.json'} is not valid JSON: {exc}") from None
        version = doc.get("format_version")
        if version != FORMAT_VERSION:
            raise _config_error("path", f"scenario format version {version!r} is not supported (this liqsim reads {FORMAT_VERSION})")
        market = dict(doc.get("market", {}))
        several = bool(market) and all(isinstance(v, dict) for v in market.values()) and not any(k in MARKET_KEYS for k in market)
        for params in market.values() if several else [market]:
            if isinstance(params.get("fees"), list):
                params["fees"] = tuple(params["fees"])
        tables = {name: pq.read_table(directory / f"{name}.parquet") for name in doc.get("tables", []) if name in _TABLES}
        return cls(
            market=market,
            agents=doc.get("agents", []),
            start=int(doc["start"]),
            end=int(doc["end"]),
            sample_every=int(doc["sample_every"]),
            seed=int(doc["seed"]),
            **tables,
        )
