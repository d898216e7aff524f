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
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from . import agents as _agents
from ._choices import did_you_mean
from ._tables import as_table, check_columns, float_column, scenario_error, time_column
from ._time import DurationLike, TimeLike, duration_ns, time_ns
from .errors import ConfigError
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
        ``lot_size``, ``insurance_fund``, ``mark_rule``, ``tiers``, ``fees``, …).
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
        The index (spot) path: ``ts``, ``price``. Sorted by ``ts``.
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
        for key in market:
            if key not in MARKET_KEYS:
                raise _config_error("market", f"unknown market parameter {key!r}{did_you_mean(key, MARKET_KEYS)}; accepted: {list(MARKET_KEYS)}")
        self._market = market
        self._symbol = str(market.get("symbol", "ETHUSDT"))
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
        self._tables: dict[str, pa.Table | None] = {
            "book": self._table("book", book, BOOK_COLUMNS + ("symbol",)),
            "accounts": self._table("accounts", accounts, ACCOUNT_COLUMNS + ("symbol",)),
            "orders": self._table("orders", orders, ORDER_COLUMNS),
            "index": self._table("index", index, INDEX_COLUMNS),
        }
        for name in ("orders", "index"):
            self._check_times(name)
        self._check_index_prices()

    def _table(self, name: str, data: object | None, accepted: Sequence[str]) -> pa.Table | None:
        if data is None:
            return None
        t = as_table(data, name)
        check_columns(t, name, accepted)
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
        """The market parameters (a copy)."""
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
        return f"<liqsim.Scenario {self._market.get('venue', 'binance')} {self._symbol}: {rows or 'no tables'}; {agents}; {span:,.0f} s, seed {self._seed}>"

    # --- on disk ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``scenario.json`` (market, agents, times, seed, format version) and one Parquet
        file per table into directory ``path`` (created if needed)."""
        import pyarrow.parquet as pq

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        market = dict(self._market)
        if market.get("tiers") is not None:
            tiers = as_table(market["tiers"], "tiers")
            market["tiers"] = {c: tiers.column(c).to_pylist() for c in tiers.column_names}
        if market.get("fees") is not None:
            market["fees"] = list(market["fees"])
        doc = {
            "format_version": FORMAT_VERSION,
            "market": market,
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
        if isinstance(market.get("fees"), list):
            market["fees"] = tuple(market["fees"])
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
