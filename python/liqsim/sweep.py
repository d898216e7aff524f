"""`liqsim.sweep` and `liqsim.critical_shock`: thousands of what-ifs of one scenario.

A sweep runs every combination of a parameter grid, a list of shocks and a list of seeds. Runs
that share a market share one decoded exchange; the core clones it per run and runs the clones in
parallel (rayon, GIL released). With an ``executor`` the runs go to its workers in batches, the
scenario travelling as Arrow IPC bytes + JSON. Either way each run depends only on its own
parameters and seed, so the table is the same whatever the worker count or completion order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from . import _core
from ._choices import did_you_mean
from ._time import TimeLike, time_ns
from .book import SIDE_CODES
from .errors import ConfigError, LiqsimError
from .exchange import Exchange
from .multi import MultiExchange
from .scenario import FORMAT_VERSION, MARKET_KEYS, Scenario, _end_ns
from .simulation import (AGENT_BALANCE, _index_columns, _order_columns, _symbol_codes, _venue_agents, _venue_tables,
                         build_exchange, build_venue)

#: The trader id of shock orders (the sweep gives it an account with a large balance).
SHOCK_TRADER_ID: int = _core.SHOCK_TRADER_ID
#: Summary columns of a sweep's table, after the parameter columns. ``backstop_position`` (base
#: units, signed, > 0 long) and ``backstop_notional`` (quote, at the final mark) are what the
#: backstop (trader −1) still holds at the end of the run from takeovers it has not unwound.
SUMMARY_COLUMNS = (
    "liquidated_long_notional", "liquidated_short_notional", "liquidated_long_count", "liquidated_short_count",
    "first_price", "peak_price", "trough_price", "last_price", "final_mark", "cascade_rounds", "stops_triggered",
    "insurance_fund_change", "backstop_position", "backstop_notional", "adl_fills", "bid_exhausted", "ask_exhausted",
    "events", "wall_time_s",
)
#: A sweep of a scenario of several markets: the venue's columns (sums over the markets, among
#: them the backstops' notional at the end; the deepest cascade round, a book side exhausted in any
#: market, ``transfers`` between an account's legs, events, wall time)...
VENUE_SUMMARY_COLUMNS = (
    "liquidated_long_notional", "liquidated_short_notional", "liquidated_long_count", "liquidated_short_count",
    "cascade_rounds", "stops_triggered", "insurance_fund_change", "backstop_notional", "adl_fills", "bid_exhausted",
    "ask_exhausted", "transfers", "events", "wall_time_s",
)
#: ... then these figures of each market, named ``<SYMBOL>.<figure>`` (e.g. ``ETHUSDT.last_price``).
MARKET_SUMMARY_COLUMNS = tuple(c for c in SUMMARY_COLUMNS if c not in ("events", "wall_time_s"))
_SUMMARY_TYPES = {
    **{c: pa.float64() for c in SUMMARY_COLUMNS},
    **{c: pa.int64() for c in ("liquidated_long_count", "liquidated_short_count", "cascade_rounds",
                                "stops_triggered", "adl_fills", "events")},
    "bid_exhausted": pa.bool_(), "ask_exhausted": pa.bool_(), "transfers": pa.int64(),
}


def summary_columns(scenario: Scenario) -> list[str]:
    """The summary columns of a sweep of ``scenario``: :data:`SUMMARY_COLUMNS` for one market;
    :data:`VENUE_SUMMARY_COLUMNS` then ``<SYMBOL>.<figure>`` for each of
    :data:`MARKET_SUMMARY_COLUMNS` per market (in the scenario's market order) for several.

    >>> import liqsim
    >>> from liqsim.sweep import summary_columns
    >>> summary_columns(liqsim.Scenario(market={"BTCUSDT": {}, "ETHUSDT": {}}))[-1]
    'ETHUSDT.ask_exhausted'
    """
    if scenario.markets is None:
        return list(SUMMARY_COLUMNS)
    return list(VENUE_SUMMARY_COLUMNS) + [f"{sym}.{c}" for sym in scenario.symbols for c in MARKET_SUMMARY_COLUMNS]


def _summary_type(column: str) -> pa.DataType:
    return _SUMMARY_TYPES[column.rsplit(".", 1)[-1]]


_ORDER_COLUMN_NAMES = ("ts", "trader_id", "action", "side", "price", "qty", "tif", "reduce_only", "order_id",
                       "trigger_price", "trigger_on", "trail", "trail_fraction", "oco_group")


def _config_error(parameter: str, message: str) -> ConfigError:
    err = ConfigError(message)
    err.parameter = parameter
    return err


# --- the scenario on the wire ---------------------------------------------------------------


def pack_scenario(scenario: Scenario) -> tuple[dict[str, bytes], str]:
    """The scenario as Arrow IPC bytes (one stream per table) and a JSON document (market, agents,
    times, seed): what a sweep ships to remote workers. :func:`unpack_scenario` reverses it."""
    doc = {
        "format_version": FORMAT_VERSION, "market": scenario._plain_market(), "agents": [a.to_dict() for a in scenario.agents],
        "start": scenario.start, "end": scenario.end, "sample_every": scenario.sample_every, "seed": scenario.seed,
    }
    tables: dict[str, bytes] = {}
    for name in ("book", "accounts", "orders", "index"):
        t = getattr(scenario, name)
        if t is not None:
            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, t.schema) as writer:
                writer.write_table(t)
            tables[name] = sink.getvalue()
    return tables, json.dumps(doc, sort_keys=True)


def unpack_scenario(tables: Mapping[str, bytes], doc: str) -> Scenario:
    """The scenario :func:`pack_scenario` packed."""
    d = json.loads(doc)
    def fees_tuple(params: dict[str, Any]) -> dict[str, Any]:
        if isinstance(params.get("fees"), list):
            params["fees"] = tuple(params["fees"])
        return params

    market = dict(d["market"])
    # Several markets: symbol → parameters (a dict); one market: its parameters.
    several = bool(market) and all(isinstance(v, dict) for v in market.values()) and not any(k in MARKET_KEYS for k in market)
    market = {k: fees_tuple(dict(v)) for k, v in market.items()} if several else fees_tuple(market)
    parts = {name: pa.ipc.open_stream(data).read_all() for name, data in tables.items()}
    return Scenario(market=market, agents=d["agents"], start=d["start"], end=d["end"],
                    sample_every=d["sample_every"], seed=d["seed"], **parts)


def _digest(tables: Mapping[str, bytes], doc: str) -> str:
    h = hashlib.sha256(doc.encode())
    for name in sorted(tables):
        h.update(name.encode())
        h.update(tables[name])
    return h.hexdigest()


# --- the runs -------------------------------------------------------------------------------


def _seed_list(root: int, seeds: int | Sequence[int] | None) -> list[int]:
    """``None``: the scenario's own seed; an int N: N seeds spawned from the scenario's seed with
    numpy's ``SeedSequence`` (child k depends only on the root and k); a sequence: those seeds."""
    if seeds is None:
        return [root]
    if isinstance(seeds, bool):
        raise _config_error("seeds", f"seeds must be a count or a list of seeds, got {seeds!r}")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise _config_error("seeds", f"seeds must be ≥ 1, got {seeds}")
        children = np.random.SeedSequence(root).spawn(int(seeds))
        return [int(c.generate_state(1, dtype=np.uint64)[0]) for c in children]
    out = [int(s) for s in seeds]
    if not out or any(not 0 <= s < 2**64 for s in out):
        raise _config_error("seeds", f"seeds must be integers in [0, 2**64), got {list(seeds)!r}")
    return out


def _shock_rows(shock: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None, scenario: Scenario,
                ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A shock (one row or a list of rows) as order columns and index points, with the symbol
    code of each. An order row is ``{"ts", "side", "qty"}`` (a market order of the shock trader;
    ``"price"``: its protection bound); an index row is ``{"ts", "index": price}``. ``ts`` is a
    time (or seconds after start when a float). ``"symbol"`` names the market: required in a
    scenario of several markets, optional (and checked) in one of one market. Returns (order
    columns, order symbol codes, index ts, index prices, index symbol codes)."""
    rows = [] if shock is None else ([shock] if isinstance(shock, Mapping) else list(shock))
    symbols = scenario.symbols
    codes = {s.upper(): k for k, s in enumerate(symbols)}
    several = scenario.markets is not None
    orders: list[tuple[int, int, float, float, int]] = []
    index: list[tuple[int, float, int]] = []
    for r, row in enumerate(rows):
        if not isinstance(row, Mapping) or "ts" not in row:
            raise _config_error("shocks", f"shock row {r} must be a dict with 'ts' and 'side'/'qty' or 'index', got {row!r}")
        if "symbol" not in row and several:
            raise _config_error("shocks", f"shock row {r} needs a 'symbol' in a scenario of several markets (one of {symbols}), got {dict(row)!r}")
        code = codes.get(str(row.get("symbol", symbols[0])).upper())
        if code is None:
            name = str(row.get("symbol"))
            raise _config_error("shocks", f"shock row {r}: symbol {name!r} is not one of the markets {symbols}{did_you_mean(name, symbols)}")
        ts = _end_ns(scenario.start, row["ts"])
        if "index" in row:
            index.append((ts, float(row["index"]), code))
            continue
        side = SIDE_CODES.get(str(row.get("side")))
        if side is None or "qty" not in row:
            raise _config_error("shocks", f"shock row {r} needs side ('buy' or 'sell') and qty (base units), got {dict(row)!r}")
        orders.append((ts, side, float(row["qty"]), float(row.get("price", math.nan)), code))
    orders.sort(key=lambda o: o[0])
    index.sort(key=lambda p: p[0])
    n = len(orders)
    cols: dict[str, np.ndarray] = {
        "ts": np.array([o[0] for o in orders], dtype=np.int64),
        "trader_id": np.full(n, SHOCK_TRADER_ID, dtype=np.int64),
        "action": np.ones(n, dtype=np.uint8),  # market
        "side": np.array([o[1] for o in orders], dtype=np.uint8),
        "price": np.array([o[3] for o in orders], dtype=np.float64),
        "qty": np.array([o[2] for o in orders], dtype=np.float64),
        "tif": np.zeros(n, dtype=np.uint8), "reduce_only": np.zeros(n, dtype=bool),
        "order_id": np.full(n, -1, dtype=np.int64), "trigger_price": np.full(n, np.nan),
        "trigger_on": np.zeros(n, dtype=np.uint8), "trail": np.full(n, np.nan),
        "trail_fraction": np.full(n, np.nan), "oco_group": np.full(n, -1, dtype=np.int64),
    }
    return (cols, np.array([o[4] for o in orders], dtype=np.uint32), np.array([p[0] for p in index], dtype=np.int64),
            np.array([p[1] for p in index], dtype=np.float64), np.array([p[2] for p in index], dtype=np.uint32))


def _apply(scenario: Scenario, params: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[Any, ...], int, int]:
    """Overrides by dotted name → (market, agents as specs, end ns, explicit seed or −1)."""
    market = scenario.market
    agents = list(scenario.agents)
    end = scenario.end
    seed = -1
    names = [a.name for a in agents]
    for key, value in params.items():
        if key == "seed":
            seed = int(value)
        elif key == "end":
            end = _end_ns(scenario.start, value)
        elif key.startswith("market.") and scenario.markets is not None:
            # Several markets: market.<SYMBOL>.<parameter>.
            parts = key.split(".")
            symbols = list(market)
            if len(parts) != 3 or parts[1] not in market:
                raise _config_error(
                    "grid", f"grid key {key!r}: a scenario of several markets takes market.<symbol>.<parameter>, "
                            f"symbol one of {symbols}{did_you_mean(parts[1] if len(parts) > 1 else '', symbols)}")
            if parts[2] not in MARKET_KEYS or parts[2] == "symbol":
                raise _config_error("grid", f"grid key {key!r}: no market parameter {parts[2]!r}{did_you_mean(parts[2], MARKET_KEYS)}")
            market[parts[1]] = {**market[parts[1]], parts[2]: value}
        elif key.startswith("market."):
            market[key[len("market."):]] = value
        elif key.startswith("agents.") and key.count(".") == 2:
            _, name, param = key.split(".")
            if name not in names:
                raise _config_error("grid", f"grid key {key!r}: the scenario has no agent {name!r}{did_you_mean(name, names)}; agents: {names}")
            k = names.index(name)
            fields = [f.name for f in dataclasses.fields(agents[k])]
            if param not in fields:
                raise _config_error("grid", f"grid key {key!r}: {name} has no parameter {param!r}{did_you_mean(param, fields)}")
            agents[k] = dataclasses.replace(agents[k], **{param: value})
        else:
            raise _config_error(
                "grid", f"grid key {key!r} is not seed, end, market.<parameter> (market.<symbol>.<parameter> for several "
                        "markets) or agents.<agent name>.<parameter>")
    return market, tuple(agents), end, seed


@dataclass
class _Run:
    run_id: int
    params: dict[str, Any]
    shock_id: int
    seed: int
    market: dict[str, Any]
    core: dict[str, Any]  # what the core's sweep takes for this run


def _plan(scenario: Scenario, grid: Mapping[str, Sequence[Any]], seeds: list[int],
          shocks: Sequence[Any]) -> list[_Run]:
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Sequence) or len(grid[k]) == 0:
            raise _config_error("grid", f"grid[{k!r}] must be a non-empty list of values, got {grid[k]!r}")
    shock_rows = [_shock_rows(s, scenario) for s in shocks]
    several = scenario.markets is not None
    runs: list[_Run] = []
    for values in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, values))
        market, agents, end, explicit_seed = _apply(scenario, params)
        agent_dicts: list[Any] = (
            _venue_agents(scenario, agents) if several else [a._core(k) for k, a in enumerate(agents)])
        for shock_id, (orders, order_symbol, index_ts, index_price, index_symbol) in enumerate(shock_rows):
            for seed in ([explicit_seed] if explicit_seed >= 0 else seeds):
                core = {"seed": seed, "end": end, "agents": agent_dicts, "shock_orders": orders,
                        "shock_index_ts": index_ts, "shock_index_price": index_price}
                if several:
                    core.update(shock_order_symbol=order_symbol, shock_index_symbol=index_symbol)
                runs.append(_Run(len(runs), params, shock_id, seed, market, core))
    return runs


def _market_key(market: Mapping[str, Any]) -> str:
    return json.dumps(market, sort_keys=True, default=repr)


def _build(scenario: Scenario, market: dict[str, Any]) -> Exchange | MultiExchange:
    """The scenario's market at its start with ``market`` as its parameters: an exchange, or a
    venue for several markets."""
    changed = scenario.replace(market=market)
    return build_venue(changed) if changed.markets is not None else build_exchange(changed)


def _run_group(scenario: Scenario, market: dict[str, Any], runs: Sequence[dict[str, Any]],
               threads: int | None, exchange: Exchange | MultiExchange | None = None) -> dict[str, Any]:
    """Summary columns of ``runs`` (core run dicts) on ``scenario`` with ``market``; a market that
    cannot be built is every run's error."""
    try:
        if exchange is None:
            exchange = _build(scenario, market)
    except LiqsimError as exc:
        return {"error": [f"{type(exc).__name__}: {exc}"] * len(runs)}
    if isinstance(exchange, MultiExchange):
        orders, order_symbol, index_ts, index_price, index_symbol = _venue_tables(scenario, scenario.end)
        return dict(_core.sweep_venue(exchange._v, orders, order_symbol, index_ts, index_price, index_symbol,
                                      list(runs), scenario.start, scenario.sample_every, AGENT_BALANCE, threads))
    index_ts, index_price = _index_columns(scenario)
    return dict(_core.sweep(exchange._ex, _order_columns(scenario), index_ts, index_price, list(runs),
                            scenario.start, scenario.sample_every, AGENT_BALANCE, threads))


#: Per worker process: scenarios decoded and exchanges built, by digest (a worker decodes a
#: scenario once however many batches it runs).
_WORKER_CACHE: dict[str, tuple[Scenario, dict[str, Exchange | MultiExchange]]] = {}


def run_batch(packed: tuple[Mapping[str, bytes], str], digest: str, market: dict[str, Any],
              runs: list[dict[str, Any]], threads: int | None) -> dict[str, Any]:
    """A batch of runs on a worker (module level, so executors can pickle it): the scenario arrives
    as :func:`pack_scenario`'s (bytes, JSON); decoded scenarios and built exchanges are kept per
    process."""
    if digest not in _WORKER_CACHE:
        _WORKER_CACHE.clear()  # one sweep at a time per worker: keep memory bounded
        _WORKER_CACHE[digest] = (unpack_scenario(*packed), {})
    scenario, exchanges = _WORKER_CACHE[digest]
    key = _market_key(market)
    if key not in exchanges:
        try:
            exchanges[key] = _build(scenario, market)
        except LiqsimError as exc:
            return {"error": [f"{type(exc).__name__}: {exc}"] * len(runs)}
    return _run_group(scenario, market, runs, threads, exchanges[key])


def _executor_workers(executor: Executor) -> int:
    """How many tasks the executor runs at once, where it says (process pools, Dask)."""
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, int) and workers > 0:
        return workers
    client = getattr(executor, "_client", None)
    if client is not None:
        try:
            return max(1, int(sum(client.nthreads().values())))
        except Exception:  # a client that cannot say: assume one task per core
            return os.cpu_count() or 1
    return os.cpu_count() or 1


# --- the table ------------------------------------------------------------------------------


def _schema(grid: Mapping[str, Sequence[Any]], shocks: Sequence[Any], fingerprint: str,
            summary: Sequence[str] = SUMMARY_COLUMNS) -> pa.Schema:
    fields = [pa.field("run_id", pa.int64())]
    for k, values in grid.items():
        if k != "seed":
            fields.append(pa.field(k, pa.array(list(values)).type))
    fields += [pa.field("seed", pa.uint64()), pa.field("shock", pa.int64()), pa.field("shock_qty", pa.float64()),
               pa.field("shock_side", pa.string()), pa.field("shock_index", pa.float64())]
    fields += [pa.field(c, _summary_type(c)) for c in summary]
    fields.append(pa.field("error", pa.string()))
    return pa.schema(fields, metadata={"liqsim.sweep": fingerprint})


def _shock_figures(shock: Any) -> tuple[float | None, str | None, float | None]:
    """Total base qty, side and last index level of a shock (null where it has none, and where its
    rows are in several markets: base units and index levels of different markets do not add)."""
    rows = [] if shock is None else ([shock] if isinstance(shock, Mapping) else list(shock))
    if len({str(r.get("symbol", "")).upper() for r in rows}) > 1:
        return (None, None, None)
    qty = sum(float(r["qty"]) for r in rows if "qty" in r)
    sides = {str(r["side"]) for r in rows if "side" in r}
    index = [float(r["index"]) for r in rows if "index" in r]
    return (qty if sides else None, sides.pop() if len(sides) == 1 else None, index[-1] if index else None)


def _batch_table(schema: pa.Schema, runs: Sequence[_Run], shocks: Sequence[Any], result: Mapping[str, Any],
                 summary: Sequence[str] = SUMMARY_COLUMNS) -> pa.Table:
    n = len(runs)
    cols: dict[str, Any] = {"run_id": [r.run_id for r in runs]}
    for f in schema:
        if f.name in ("run_id", "seed", "shock", "shock_qty", "shock_side", "shock_index", "error") or f.name in summary:
            continue
        cols[f.name] = [r.params[f.name] for r in runs]
    figures = [_shock_figures(shocks[r.shock_id]) for r in runs]
    cols.update(seed=[r.seed for r in runs], shock=[r.shock_id for r in runs], shock_qty=[f[0] for f in figures],
                shock_side=[f[1] for f in figures], shock_index=[f[2] for f in figures])
    for c in summary:
        kind = _summary_type(c)
        default: Any = False if kind == pa.bool_() else (0 if kind == pa.int64() else math.nan)
        cols[c] = result[c] if c in result else [default] * n
    cols["error"] = result["error"]
    return pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in schema}, schema=schema)


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]  # the optional `sweep` extra
    except ImportError:
        return None
    return tqdm(total=total, unit="run", desc="liqsim.sweep")


def sweep(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: int | Sequence[int] | None = None,
    shocks: Sequence[Any] | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    threads: int | None = None,
    batch_size: int | None = None,
) -> pa.Table:
    """Run every combination of ``grid`` × ``shocks`` × ``seeds`` and return one row per run.

    Parameters
    ----------
    scenario : Scenario
    grid : mapping of dotted name → list of values
        ``seed``, ``end`` (a time, or float seconds after start), ``market.<parameter>`` (e.g.
        ``market.insurance_fund``, in quote; with several markets ``market.<SYMBOL>.<parameter>``,
        e.g. ``market.ETHUSDT.insurance_fund``) or ``agents.<agent name>.<parameter>`` (e.g.
        ``agents.market_maker.pull_move``, in the agent's units).
    seeds : int or list of int, optional
        ``None``: the scenario's seed; N: N seeds derived from the scenario's seed with numpy's
        ``SeedSequence`` (the same seeds whatever the worker count or order); a list: those seeds.
    shocks : list, optional
        Each a dict (or a list of dicts) injected into the run: ``{"ts": 10.0, "side": "buy",
        "qty": 50.0}`` is a market order of ``qty`` (base units) at ``ts`` (float: seconds after
        start) from a shock trader the sweep adds; ``{"ts": 10.0, "index": 2900.0}`` sets the
        index. ``None`` in the list: no shock. With several markets every row names its market,
        ``"symbol": "BTCUSDT"`` (the shock trader is one cross account across them).
    executor : concurrent.futures.Executor, optional
        Run batches on its workers (e.g. ``distributed.Client(...).get_executor()``); the
        scenario travels as Arrow IPC bytes + JSON and is decoded once per worker process.
    progress : bool
        A tqdm bar when tqdm is installed (``pip install liqsim[sweep]``) and stderr is a terminal.
    out : path, optional
        Stream rows to this Parquet file as batches finish (kept if the sweep is interrupted).
    resume : bool
        With ``out``: keep the rows already in ``out`` and run only the others (the file must come
        from the same sweep).
    threads : int, optional
        Core threads per batch (default: all cores in-process; with an executor, cores ÷ its
        workers, at least 1).
    batch_size : int, optional
        Runs per batch (default: enough for ~4 batches per worker, at most 64).

    Returns a ``pyarrow.Table`` sorted by ``run_id``: the grid parameters, ``seed``, ``shock``
    (its position in ``shocks``), ``shock_qty``/``shock_side``/``shock_index``, liquidated
    notional (quote) and count by side, first/peak/trough/last traded price, ``final_mark``,
    ``cascade_rounds`` (deepest), ``stops_triggered``, ``insurance_fund_change`` (quote),
    ``backstop_position`` (base units, signed) and ``backstop_notional`` (quote, at the final
    mark): what the backstop, trader −1, holds at the end from takeovers it has not unwound;
    ``adl_fills``, ``bid_exhausted``/``ask_exhausted`` (a side of the book empty at some sample),
    ``events``, ``wall_time_s`` and ``error`` (null when the run succeeded).

    A scenario of several markets (:data:`VENUE_SUMMARY_COLUMNS`, see :func:`summary_columns`)
    gives the venue's liquidated notional and counts, insurance fund change, backstop notional,
    ADL fills and stops summed over the markets, the deepest ``cascade_rounds``, ``bid_exhausted``/``ask_exhausted``
    (that side of some market's book empty at some sample: the ``<SYMBOL>.bid_exhausted`` columns
    or-ed), ``transfers`` (money moved between an account's legs), ``events`` and ``wall_time_s``;
    then each market's figures as
    ``<SYMBOL>.<figure>`` (``BTCUSDT.liquidated_short_notional``, ``ETHUSDT.last_price``, …: the
    one-market columns but events and wall time).

    Example
    -------
    >>> import liqsim
    >>> scn = liqsim.Scenario(market={"mark_rule": "last"}, index={"ts": [0], "price": [3000.0]},
    ...                       agents=[liqsim.agents.MarketMaker(depth_10bp=1e5)], end=10.0)
    >>> t = liqsim.sweep(scn, grid={"agents.market_maker.depth_10bp": [1e5, 2e5]}, seeds=2,
    ...                  shocks=[{"ts": 5.0, "side": "buy", "qty": 10.0}], progress=False)
    >>> t.num_rows, t.column("error").null_count
    (4, 4)

    Several markets: a shock names its market, the columns are the venue's and per market.

    >>> venue = liqsim.Scenario(market={"BTCUSDT": {"mark_rule": "index"}, "ETHUSDT": {"mark_rule": "index"}},
    ...                         index={"ts": [0, 0], "symbol": ["BTCUSDT", "ETHUSDT"], "price": [50000.0, 3000.0]},
    ...                         end=5.0)
    >>> t = liqsim.sweep(venue, grid={"market.ETHUSDT.insurance_fund": [1e6]},
    ...                  shocks=[{"ts": 1.0, "symbol": "BTCUSDT", "index": 51000.0}], progress=False)
    >>> t.column("BTCUSDT.final_mark").to_pylist(), t.column("ETHUSDT.final_mark").to_pylist()
    ([51000.0], [3000.0])
    """
    for name, value in (("threads", threads), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise _config_error(name, f"{name} must be an integer ≥ 1 (or None), got {value!r}")
    if resume and out is None:
        raise _config_error("resume", "resume=True needs out= (the Parquet file of the interrupted sweep)")
    grid = dict(grid or {})
    shock_list: list[Any] = list(shocks) if shocks is not None else [None]
    if not shock_list:
        raise _config_error("shocks", "shocks must not be empty (use None for no shock)")
    if "seed" in grid and seeds is not None:
        raise _config_error("seeds", "give seeds or grid['seed'], not both")
    runs = _plan(scenario, grid, _seed_list(scenario.seed, seeds), shock_list)
    tables, doc = pack_scenario(scenario)
    digest = _digest(tables, doc)
    fingerprint = hashlib.sha256(json.dumps(
        [digest, {k: list(v) for k, v in grid.items()}, [r.seed for r in runs], shock_list],
        sort_keys=True, default=repr).encode()).hexdigest()
    summary = summary_columns(scenario)
    schema = _schema(grid, shock_list, fingerprint, summary)

    done: list[pa.Table] = []
    if out is not None and resume and Path(out).exists():
        import pyarrow.parquet as pq

        previous = pq.read_table(out)
        found = (previous.schema.metadata or {}).get(b"liqsim.sweep", b"").decode()
        if found != fingerprint:
            raise _config_error("resume", f"{out} holds rows of a different sweep (scenario, grid, seeds or shocks changed); "
                                          "use another out path or resume=False")
        if previous.schema.names != schema.names:
            # Same sweep, other columns: a file written by another liqsim version.
            raise _config_error("resume", f"{out} has other columns than this liqsim writes (written by another "
                                          "version?); use another out path or resume=False")
        done.append(previous.cast(schema))
    finished = set(done[0].column("run_id").to_pylist()) if done else set()
    todo = [r for r in runs if r.run_id not in finished]

    workers = _executor_workers(executor) if executor is not None else 1
    if threads is None and executor is not None:
        threads = max(1, (os.cpu_count() or 1) // workers)
    if batch_size is None:
        per_worker = (threads or os.cpu_count() or 1) if executor is None else 1
        batch_size = max(1, min(64, math.ceil(len(todo) / (4 * workers)), 8 * per_worker))
        batch_size = max(batch_size, min(len(todo), per_worker))
    batches: list[list[_Run]] = []
    by_market: dict[str, list[_Run]] = {}
    for r in todo:
        by_market.setdefault(_market_key(r.market), []).append(r)
    for group in by_market.values():
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]

    writer = None
    partial = None
    if out is not None:
        import pyarrow.parquet as pq

        partial = Path(str(out) + ".partial")
        writer = pq.ParquetWriter(partial, schema)
        for t in done:
            writer.write_table(t)
    bar = _progress(len(todo), progress)
    try:
        for batch, result in _results(scenario, batches, executor, tables, doc, digest, threads):
            table = _batch_table(schema, batch, shock_list, result, summary)
            done.append(table)
            if writer is not None:
                writer.write_table(table)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
        if writer is not None and partial is not None and out is not None:
            writer.close()
            os.replace(partial, out)
    if not done:
        return schema.empty_table()
    return pa.concat_tables(done).sort_by("run_id")


def _results(scenario: Scenario, batches: list[list[_Run]], executor: Executor | None, tables: dict[str, bytes],
             doc: str, digest: str, threads: int | None) -> Iterator[tuple[list[_Run], dict[str, Any]]]:
    """(batch, summary columns) as batches finish."""
    if executor is None:
        exchanges: dict[str, Exchange | MultiExchange] = {}
        for batch in batches:
            market = batch[0].market
            key = _market_key(market)
            if key not in exchanges:
                try:
                    exchanges[key] = _build(scenario, market)
                except LiqsimError as exc:
                    yield batch, {"error": [f"{type(exc).__name__}: {exc}"] * len(batch)}
                    continue
            yield batch, _run_local(scenario, market, [r.core for r in batch], threads, exchanges[key])
        return
    packed: Any = (tables, doc)
    client = getattr(executor, "_client", None)
    if client is not None and hasattr(client, "scatter"):
        # Dask: send the scenario to every worker once; batches carry a reference to it.
        packed = client.scatter(packed, broadcast=True, hash=False)
    futures: dict[Future[dict[str, Any]], list[_Run]] = {}
    for batch in batches:
        futures[executor.submit(run_batch, packed, digest, batch[0].market, [r.core for r in batch], threads)] = batch
    try:
        for f in as_completed(futures):
            yield futures[f], f.result()
    finally:
        for f in futures:
            f.cancel()


def _run_local(scenario: Scenario, market: dict[str, Any], runs: list[dict[str, Any]], threads: int | None,
               exchange: Exchange | MultiExchange) -> dict[str, Any]:
    # A seam for tests (an interruption between batches).
    return _run_group(scenario, market, runs, threads, exchange)


# --- the critical shock ---------------------------------------------------------------------


@dataclass(frozen=True)
class CriticalShock:
    """The smallest market order (quote notional) that sets off a self-sustaining cascade.

    ``median`` and ``low``/``high`` (min and max across seeds) are in quote; ``per_seed`` has one
    row per seed: ``critical_notional`` (NaN when no size up to ``max_notional`` did it; 0 when
    the market cascades without a shock), ``critical_qty`` (base), ``at_book_edge`` (the shock
    at that size emptied its side of the book: the answer is the depth of the book, not a
    tipping point), ``liquidated_notional`` at that size (the liquidations that count, see
    ``count_symbol``), ``runs``. ``symbol``: the shocked market; ``count_symbol``: the market
    whose liquidations were counted (None: all of the scenario's markets)."""

    side: str
    median: float
    low: float
    high: float
    at_book_edge: bool
    per_seed: pa.Table
    symbol: str | None = None
    count_symbol: str | None = None

    def __repr__(self) -> str:
        edge = "; at the edge of the book (book exhausted), not a tipping point" if self.at_book_edge else ""
        where = "" if self.symbol is None else f" of {self.symbol}"
        counted = "" if self.count_symbol is None or self.count_symbol == self.symbol else (
            f", counting {self.count_symbol} liquidations")
        return (f"<liqsim.CriticalShock {self.side}{where}: median {self.median:,.0f} quote "
                f"(seeds: {self.low:,.0f}..{self.high:,.0f}){counted}{edge}>")


def _market_of(parameter: str, value: Any, symbols: list[str]) -> str:
    """The scenario's spelling of market ``value`` (case-insensitive), or a ConfigError naming
    ``parameter`` and the markets."""
    found = {s.upper(): s for s in symbols}.get(str(value).upper())
    if not isinstance(value, str) or found is None:
        raise _config_error(parameter, f"{parameter}={value!r} is not one of the scenario's markets {symbols}"
                                       f"{did_you_mean(str(value), symbols)}")
    return found


def critical_shock(
    scenario: Scenario,
    side: str = "buy",
    at: TimeLike | float | None = None,
    seeds: int | Sequence[int] | None = 5,
    multiple: float = 1.0,
    move: float | None = None,
    start_notional: float = 1e5,
    max_notional: float = 1e9,
    tolerance: float = 0.05,
    threads: int | None = None,
    symbol: str | None = None,
    count_symbol: str | None = None,
) -> CriticalShock:
    """The smallest market order, in quote notional, that sets off a cascade, by bisection per seed.

    A run "cascades" when the notional liquidated on the side the shock hurts (shorts for a buy,
    longs for a sell) exceeds ``multiple`` × the shock's notional, or (when ``move`` is given)
    the traded price moves more than ``move`` (a fraction) from its first value in the shock's
    direction. For each seed the size doubles from ``start_notional`` until a run cascades (up to
    ``max_notional``), then bisects until the bracket is within ``tolerance`` (relative). All
    seeds of one step run in parallel in the core. The shock is a market order of the shock
    trader at ``at`` (float: seconds after start; default: a tenth of the way in), its size
    ``notional ÷ reference price`` (first index price, else the mid) rounded down to the lot.

    A scenario of several markets (a venue sharing cross margin) needs ``symbol``: the market the
    order is sent to (its first index price or mid and its lot size the shock's, its book side
    the one ``at_book_edge`` watches). The liquidations that count are the hurt side's in every
    market of the venue, summed (a BTC buy counts the shorts it liquidates in BTC and, through
    cross margin, in ETH), or with ``count_symbol`` only that market's, and ``move`` then watches
    that market's traded price (by default the shocked market's): ``symbol="BTCUSDT",
    count_symbol="ETHUSDT"`` asks how big a BTC buy liquidates ETH shorts worth ``multiple`` × its
    own notional. In a one-market scenario both are optional and must name its market.

    Example
    -------
    >>> import liqsim
    >>> scn = liqsim.Scenario(market={"mark_rule": "last"}, index={"ts": [0], "price": [3000.0]},
    ...                       agents=[liqsim.agents.MarketMaker(depth_10bp=1e5)], end=10.0)
    >>> c = liqsim.critical_shock(scn, seeds=2, max_notional=1e6)
    >>> c.median != c.median  # no accounts to liquidate: NaN, no size sets off a cascade
    True

    Several markets: the order goes to ``symbol``; here ETH shorts count (none are loaded).

    >>> venue = liqsim.Scenario(market={"BTCUSDT": {"tick_size": 0.1}, "ETHUSDT": {}},
    ...                         index={"ts": [0, 0], "symbol": ["BTCUSDT", "ETHUSDT"],
    ...                                "price": [50000.0, 3000.0]},
    ...                         agents=[liqsim.agents.MarketMaker(symbol="BTCUSDT", depth_10bp=1e6)],
    ...                         end=10.0)
    >>> c = liqsim.critical_shock(venue, symbol="BTCUSDT", count_symbol="ETHUSDT", seeds=1,
    ...                           max_notional=1e6)
    >>> c.symbol, c.count_symbol, c.median != c.median
    ('BTCUSDT', 'ETHUSDT', True)
    """
    several = scenario.markets is not None
    symbols = scenario.symbols
    if several and symbol is None:
        raise _config_error("symbol", f"critical_shock of a scenario of several markets needs symbol= (the market the "
                                      f"shock order goes to, one of {symbols})")
    shocked = symbols[0] if symbol is None else _market_of("symbol", symbol, symbols)
    counted = None if count_symbol is None else _market_of("count_symbol", count_symbol, symbols)
    if side not in ("buy", "sell"):
        raise _config_error("side", f"side must be 'buy' or 'sell', got {side!r}")
    for name, value in (("multiple", multiple), ("start_notional", start_notional), ("max_notional", max_notional),
                        ("tolerance", tolerance)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise _config_error(name, f"{name} must be a finite number > 0, got {value!r}")
    if move is not None and not (0 < move < 1):
        raise _config_error("move", f"move must be a fraction in (0, 1), got {move!r}")
    if at is None:
        ts = scenario.start + (scenario.end - scenario.start) // 10
    elif isinstance(at, float):
        ts = _end_ns(scenario.start, at)
    else:
        ts = time_ns("at", at)
    if not scenario.start <= ts <= scenario.end:
        raise _config_error("at", f"at must be within the scenario ({scenario.start}..{scenario.end} ns), got {at!r}")
    index_ts, index_price = _index_columns(scenario)
    market: Exchange
    base_market: Exchange | MultiExchange
    if several:
        base_market = build_venue(scenario)
        market = base_market.market(shocked)
        # The shocked market's first index point (the index table is sorted by ts).
        if len(index_price):
            index_price = index_price[_symbol_codes(scenario, scenario.index, "index") == symbols.index(shocked)]
        agents: list[Any] = _venue_agents(scenario, scenario.agents)
    else:
        base_market = market = build_exchange(scenario)
        agents = [a._core(k) for k, a in enumerate(scenario.agents)]
    bid, ask = market.best_bid, market.best_ask
    reference = float(index_price[0]) if len(index_price) else (
        (bid + ask) / 2 if bid is not None and ask is not None else math.nan)
    if not math.isfinite(reference):
        raise _config_error("scenario", f"critical_shock needs an index path or a two-sided book of {shocked} for a "
                                        "reference price")
    lot = float(market._ex.lot_size)
    seed_list = _seed_list(scenario.seed, seeds)
    # Summary columns: the venue's (summed over the markets) or one market's `<SYMBOL>.<figure>`.
    counted_prefix = f"{counted}." if several and counted is not None else ""
    shocked_prefix = f"{shocked}." if several else ""
    watched_prefix = counted_prefix or shocked_prefix
    hurt = counted_prefix + ("liquidated_short_notional" if side == "buy" else "liquidated_long_notional")
    exhausted = shocked_prefix + ("ask_exhausted" if side == "buy" else "bid_exhausted")
    first_col = watched_prefix + "first_price"
    extreme_col = watched_prefix + ("peak_price" if side == "buy" else "trough_price")

    def qty_of(notional: float) -> float:
        return round(math.floor(notional / reference / lot) * lot, 12)

    def run(notionals: list[float]) -> dict[str, Any]:
        core = []
        for seed, notional in zip(seed_list, notionals):
            shock = {"ts": ts, "side": side, "qty": qty_of(notional), "symbol": shocked} if notional > 0 else None
            orders, order_symbol, its, iprice, isymbol = _shock_rows(shock, scenario)
            one: dict[str, Any] = {"seed": seed, "end": scenario.end, "agents": agents, "shock_orders": orders,
                                   "shock_index_ts": its, "shock_index_price": iprice}
            if several:
                one.update(shock_order_symbol=order_symbol, shock_index_symbol=isymbol)
            core.append(one)
        return _run_group(scenario, scenario.market, core, threads, base_market)

    def cascades(result: Mapping[str, Any], k: int, notional: float) -> bool:
        if result["error"][k] is not None:
            raise LiqsimError(f"critical_shock: the run for seed {seed_list[k]} failed: {result['error'][k]}")
        if float(result[hurt][k]) > multiple * notional:
            return True
        if move is not None:
            first = float(result[first_col][k])
            extreme = float(result[extreme_col][k])
            return math.isfinite(first) and abs(extreme / first - 1.0) > move
        return False

    n = len(seed_list)
    total_runs = [0] * n
    base = run([0.0] * n)
    lo = [0.0] * n
    hi = [math.nan] * n
    at_edge = [False] * n
    liquidated = [math.nan] * n
    for k in range(n):
        total_runs[k] += 1
        if base["error"][k] is not None:
            raise LiqsimError(f"critical_shock: the run for seed {seed_list[k]} failed: {base['error'][k]}")
        if float(base[hurt][k]) > 0.0:  # the market cascades on its own
            hi[k] = 0.0
            liquidated[k] = float(base[hurt][k])
    # Grow the size until every seed has cascaded (or max_notional is passed).
    size = [start_notional] * n
    open_ = [k for k in range(n) if math.isnan(hi[k])]
    while open_:
        result = run([size[k] if k in open_ else 0.0 for k in range(n)])
        still = []
        for k in open_:
            total_runs[k] += 1
            if cascades(result, k, size[k]):
                hi[k], at_edge[k], liquidated[k] = size[k], bool(result[exhausted][k]), float(result[hurt][k])
            else:
                lo[k] = size[k]
                if size[k] * 2 <= max_notional:
                    size[k] *= 2
                    still.append(k)
        open_ = still
    # Bisect each bracket (lo: no cascade, hi: cascade).
    open_ = [k for k in range(n) if hi[k] > 0 and hi[k] - lo[k] > tolerance * hi[k]]
    while open_:
        mid = [(lo[k] + hi[k]) / 2 for k in range(n)]
        result = run([mid[k] if k in open_ else 0.0 for k in range(n)])
        for k in open_:
            total_runs[k] += 1
            if cascades(result, k, mid[k]):
                hi[k], at_edge[k], liquidated[k] = mid[k], bool(result[exhausted][k]), float(result[hurt][k])
            else:
                lo[k] = mid[k]
        open_ = [k for k in open_ if hi[k] - lo[k] > tolerance * hi[k] and qty_of(hi[k]) - qty_of(lo[k]) > lot]
    values = np.array(hi)
    found = values[np.isfinite(values)]
    per_seed = pa.table({
        "seed": pa.array(seed_list, type=pa.uint64()),
        "critical_notional": pa.array(values, type=pa.float64()),
        "critical_qty": pa.array([qty_of(v) if math.isfinite(v) else math.nan for v in values], type=pa.float64()),
        "at_book_edge": pa.array(at_edge),
        "liquidated_notional": pa.array(liquidated, type=pa.float64()),
        "runs": pa.array(total_runs, type=pa.int64()),
    })
    return CriticalShock(
        side=side,
        median=float(np.median(found)) if len(found) == n else math.nan,
        low=float(found.min()) if len(found) else math.nan,
        high=float(found.max()) if len(found) else math.nan,
        at_book_edge=bool(any(at_edge)),
        per_seed=per_seed,
        symbol=shocked,
        count_symbol=counted,
    )


__all__ = ["MARKET_SUMMARY_COLUMNS", "SHOCK_TRADER_ID", "SUMMARY_COLUMNS", "VENUE_SUMMARY_COLUMNS", "CriticalShock",
           "critical_shock", "pack_scenario", "summary_columns", "sweep", "unpack_scenario"]
