"""The ``liqsim`` command line."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, NoReturn

import numpy as np

from . import __version__, scenarios
from ._choices import did_you_mean
from .errors import LiqsimError


class UsageError(Exception):
    """A user mistake the CLI reports in one line (exit code 2)."""


def _money(x: float) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"${x / div:,.2f}{unit}"
    return f"${x:,.0f}"


def _price(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:,.2f}"


def _key_times(n: int, peak: int) -> list[int]:
    """Sample rows to show: the start, five even steps, the peak of the move, the end."""
    rows = {0, n - 1, peak} | {round(k * (n - 1) / 6) for k in range(1, 6)}
    return sorted(rows)


def run_demo(name: str, plot: str | None, seed: int) -> int:
    """``liqsim demo``: run a built-in scenario and print what happened."""
    from .agents import MarketMaker
    from .scenarios import CLUSTER_ID_BASE, describe, load
    from .simulation import simulate

    t0 = time.perf_counter()
    about = describe(name)
    scn = load(name, seed=seed)
    if scn.markets is not None:
        return _run_venue_demo(name, scn, plot, t0)
    acc = scn.accounts
    assert acc is not None, "built-in scenarios have accounts"
    ids = acc.column("trader_id").to_numpy()
    qty = acc.column("qty").to_numpy()
    entry = acc.column("entry_price").to_numpy()
    sides = np.asarray(acc.column("side").to_pylist())
    notional = qty * entry
    stacked = ids >= CLUSTER_ID_BASE
    market = scn.market
    index0 = float(scn.index.column("price")[0].as_py()) if scn.index is not None else float("nan")
    maker = next((a for a in scn.agents if isinstance(a, MarketMaker)), None)
    depth = f"{_money(maker.depth_10bp)} within 10 bp per side from a maker that refills" if maker is not None else "static book"
    print(f"liqsim demo: {about.name}: {about.title} (reported: {about.reported})")
    print(
        f"  setup: {market['venue']} {market['symbol']} at {index0:,.2f}; {len(ids):,} accounts, "
        f"{_money(notional[sides == 'long'].sum())} long / {_money(notional[sides == 'short'].sum())} short "
        f"({_money(notional[stacked].sum())} stacked in clusters); {depth}; {(scn.end - scn.start) / 1e9:,.0f} s simulated"
    )
    res = simulate(scn)
    s = res.summary()
    series = res.series
    n = len(series)
    print("\n  path       time       index        last        mark   liquidated so far (shorts / longs)")
    peak_row = int(np.nanargmax(series["last"])) if about.squeezed_side == "short" else int(np.nanargmin(series["last"]))
    liq_s, liq_l = series["liquidated_short"], series["liquidated_long"]  # cumulative, quote
    for r in _key_times(n, peak_row):
        t = (series["ts"][r] - scn.start) / 1e9
        mark = " (peak)" if r == peak_row and about.squeezed_side == "short" else " (low)" if r == peak_row else ""
        print(
            f"  {t:>12,.0f} s {series['index'][r]:>11,.2f} {_price(series['last'][r]):>11} {_price(series['mark'][r]):>11}"
            f"   {_money(liq_s[r])} / {_money(liq_l[r])}{mark}"
        )
    liq = res.liquidations
    liq_notional = liq["notional"]
    print(
        f"\n  liquidations  shorts {_money(s['liquidated_short_notional'])} ({s['liquidated_short_count']:,} accounts), "
        f"longs {_money(s['liquidated_long_notional'])} ({s['liquidated_long_count']:,})"
    )
    kinds = {k: int((liq["kind"] == k).sum()) for k in ("full", "partial", "backstop")}
    rounds = liq["round"]
    by_round = ", ".join(
        f"{r}: {int((rounds == r).sum()):,} ({_money(liq_notional[rounds == r].sum())})"
        for r in range(1, int(rounds.max()) + 1 if len(rounds) else 1)
    )
    print(
        f"                {kinds['full']:,} closed in the book, {kinds['partial']:,} partial, {kinds['backstop']:,} taken over "
        f"by the fund; by cascade round {by_round or '-'}"
    )
    oi = series["open_interest"]
    oi_change = 100.0 * (oi[-1] / oi[0] - 1.0) if oi[0] else 0.0
    print(f"  open interest {oi[0]:,.1f} → {oi[-1]:,.1f} {market['symbol'][:3]} ({oi_change:+.1f}%)")
    funding = res.funding
    paid = f"{len(funding):,} payments" if len(funding) else "no payment in the window"
    print(f"  funding       rate {series['funding_rate'][0] * 100:+.4f}% → {series['funding_rate'][-1] * 100:+.4f}% per interval; {paid}")
    fund = series["insurance_fund"]
    print(f"  insurance     {_money(fund[0])} → {_money(fund[-1])} ({'+' if fund[-1] >= fund[0] else '-'}{_money(abs(fund[-1] - fund[0]))})")
    print(f"  ADL           {s['adl_fills']:,} fills")
    print(f"  stops         {s['stops_triggered']:,} triggered")
    if plot is not None:
        try:
            res.plot(path=plot, title=f"liqsim demo --scenario {name}: {about.title}")
        except ImportError as err:
            raise UsageError(str(err)) from None
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot write the chart to {plot}: {getattr(err, 'strerror', None) or err}") from None
        print(f"  chart         {plot}")
    print(f"  wall time     {time.perf_counter() - t0:.2f} s (simulation {res.wall_time:.2f} s, {res.events:,} events)")
    others = ", ".join(x for x in _scenario_names() if x != name)
    print(
        f"\nchange it: liqsim demo --scenario NAME ({others}); in Python, "
        f"liqsim.scenarios.build(depth_10bp=…, clusters=[…]) or .replace(agents=[…]) on liqsim.scenarios.load({name!r})"
    )
    return 0


def _run_venue_demo(name: str, scn: Any, plot: str | None, t0: float) -> int:
    """``liqsim demo`` of a scenario of several markets: a line per market and the venue's totals."""
    from .scenarios import describe
    from .simulation import simulate

    about = describe(name)
    print(f"liqsim demo: {about.name}: {about.title}")
    acc = scn.accounts
    traders = len(set(acc.column("trader_id").to_pylist())) if acc is not None else 0
    print(f"  setup: {', '.join(scn.symbols)} sharing one venue; {traders:,} traders; {(scn.end - scn.start) / 1e9:,.0f} s simulated")
    if plot is not None:
        raise UsageError("--plot draws one market; for a scenario of several, plot res.series per symbol in Python")
    res = simulate(scn)
    s = res.summary()
    print("\n  market        first        last    peak move   liquidated shorts / longs")
    for symbol in scn.symbols:
        m = s[symbol]
        print(
            f"  {symbol:<10} {_price(m['first_price']):>10} {_price(m['last_price']):>11} {m['peak_change_pct']:>+10.2f}%"
            f"   {_money(m['liquidated_short_notional'])} ({m['liquidated_short_count']:,}) / "
            f"{_money(m['liquidated_long_notional'])} ({m['liquidated_long_count']:,})"
        )
    v = s["venue"]
    print(
        f"\n  venue         liquidated {_money(v['liquidated_short_notional'] + v['liquidated_long_notional'])}; "
        f"{v['transfers']:,} transfers between an account's legs; deepest cascade round {v['cascade_rounds']}"
    )
    print(f"  wall time     {time.perf_counter() - t0:.2f} s (simulation {res.wall_time:.2f} s, {res.events:,} events)")
    others = ", ".join(x for x in _scenario_names() if x != name)
    print(f"\nchange it: liqsim demo --scenario NAME ({others}); in Python, liqsim.scenarios.btc_eth_spillover(margin=…)")
    return 0


def _scenario_names() -> list[str]:
    return scenarios.names()


def run_saved(directory: str, out: str | None, seed: int | None, check_invariants: bool) -> int:
    """``liqsim run DIR``: run a saved scenario, print its summary, and with ``--out`` write the
    result tables as Parquet and the summary as JSON."""
    import json
    from pathlib import Path

    import pyarrow.parquet as pq

    from .scenario import Scenario
    from .simulation import simulate

    if not Path(directory).is_dir():
        raise UsageError(f"{directory} is not a directory (save a scenario with Scenario.save(dir))")
    scn = Scenario.load(directory)
    res = simulate(scn, seed=seed, check_invariants=check_invariants)
    summary = res.summary()
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        shown = f"{value:,.4f}" if isinstance(value, float) else f"{value:,}"
        print(f"{key:<{width}}  {shown}")
    if out is not None:
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        tables = {"series": res.series, "trades": res.trades, "liquidations": res.liquidations, "accounts": res.accounts,
                  "funding": res.funding, "adl": res.adl, "insurance": res.insurance, "stops": res.stops}
        for name, table in tables.items():
            pq.write_table(table.to_arrow(), target / f"{name}.parquet")
        (target / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nwrote {len(tables)} tables and summary.json to {target}")
    return 0


def _grid_value(text: str) -> object:
    """A grid value from the command line: a number or true/false when it reads as one, else text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def run_sweep(directory: str, grid_args: list[str], seeds: int, shock_args: list[str], at: float, out: str | None,
              resume: bool, scheduler: str | None, threads: int | None) -> int:
    """``liqsim sweep DIR``: every combination of ``--grid name=v1,v2`` × ``--shock buy=q1,q2`` ×
    ``--seeds N`` of a saved scenario; a line per run, or the table as Parquet with ``--out``."""
    from pathlib import Path

    from .scenario import Scenario
    from .sweep import sweep

    if not Path(directory).is_dir():
        raise UsageError(f"{directory} is not a directory (save a scenario with Scenario.save(dir))")
    grid: dict[str, list[object]] = {}
    for item in grid_args:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise UsageError(f"--grid takes name=v1,v2,..., got {item!r}")
        grid[name.strip()] = [_grid_value(v) for v in values.split(",")]
    shocks: list[object] = []
    for item in shock_args:
        # SYMBOL:buy=q1,q2 names the market of a scenario of several markets.
        symbol, colon, rest = item.rpartition(":")
        side, sep, sizes = rest.partition("=")
        if not sep or side not in ("buy", "sell") or (colon and not symbol):
            raise UsageError(f"--shock takes buy=q1,q2 or sell=q1,q2 (base units; SYMBOL:buy=... for several markets), got {item!r}")
        where = {"symbol": symbol} if colon else {}
        try:
            shocks += [{"ts": float(at), "side": side, "qty": float(q), **where} for q in sizes.split(",")]
        except ValueError:
            raise UsageError(f"--shock sizes must be numbers, got {sizes!r}") from None
    scn = Scenario.load(directory)
    executor = None
    client: Any = None
    if scheduler is not None:
        try:
            import distributed
        except ImportError:
            raise UsageError("--scheduler needs Dask: pip install 'liqsim[sweep]'") from None
        try:
            client = getattr(distributed, "Client")(scheduler, timeout=10)  # untyped package: an Any
        except OSError as exc:
            raise UsageError(f"cannot reach the scheduler {scheduler}: {exc}") from None
        executor = client.get_executor()
    try:
        table = sweep(scn, grid=grid, seeds=seeds, shocks=shocks or None, executor=executor, out=out, resume=resume,
                      threads=threads)
    finally:
        if client is not None:
            client.close()
    failed = table.num_rows - table.column("error").null_count
    shown = [c for c in table.column_names if c in grid or c in ("seed", "shock_qty")]
    prices = (["peak_price", "trough_price"] if scn.markets is None
              else [f"{sym}.{c}" for sym in scn.symbols for c in ("peak_price", "trough_price")])
    for row in table.select(shown + ["liquidated_long_notional", "liquidated_short_notional", *prices,
                                     "error"]).to_pylist()[:50]:
        print("  ".join(f"{k}={v:,.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                        if v is not None))
    if table.num_rows > 50:
        print(f"... {table.num_rows - 50:,} more runs")
    print(f"{table.num_rows:,} runs, {failed:,} failed" + (f"; wrote {out}" if out is not None else ""))
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage block: the user sees what to fix (--help shows the usage).
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of ETH, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of ETH, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the ``liqsim`` command; returns the exit code (2 for a user mistake, reported in one
    line on stderr)."""
    parser = _Parser(prog="liqsim", description="Simulate perpetual-futures liquidation cascades.")
    parser.add_argument("--version", action="version", version=f"liqsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="run a built-in scenario of a reported squeeze and print what happened")
    demo.add_argument("--scenario", default=scenarios.DEFAULT, metavar="NAME",
                      help=f"one of {', '.join(scenarios.names())} (default {scenarios.DEFAULT})")
    demo.add_argument("--plot", metavar="OUT.png", help="also draw the cascade chart (needs matplotlib: pip install liqsim[plot])")
    demo.add_argument("--seed", type=int, default=7, help="seed of the scenario (default 7)")
    sub.add_parser("scenarios", help="list the built-in scenarios")
    run = sub.add_parser("run", help="run a saved scenario (a directory written by Scenario.save)")
    run.add_argument("directory", help="the scenario's directory (scenario.json + Parquet tables)")
    run.add_argument("--out", help="write the result tables (Parquet) and summary.json here")
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument("--check-invariants", action="store_true", help="check every invariant after every event (slow)")
    sw = sub.add_parser("sweep", help="run a saved scenario over a parameter grid, shocks and seeds")
    sw.add_argument("directory", help="the scenario's directory (scenario.json + Parquet tables)")
    sw.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                    help="a parameter and its values, e.g. agents.market_maker.pull_move=0.005,0.01 (repeatable)")
    sw.add_argument("--seeds", type=int, default=1, help="seeds per combination, from the scenario's seed (default 1)")
    sw.add_argument("--shock", action="append", default=[], metavar="[SYMBOL:]SIDE=Q1,Q2",
                    help="market orders of these sizes (base units) at --at, e.g. buy=10,50; in a scenario of "
                         "several markets name the market: ETHUSDT:buy=10,50 (repeatable)")
    sw.add_argument("--at", type=float, default=0.0, help="time of the shocks, seconds after start (default 0)")
    sw.add_argument("--out", help="stream the runs to this Parquet file")
    sw.add_argument("--resume", action="store_true", help="keep the runs already in --out and run the rest")
    sw.add_argument("--scheduler", help="a Dask scheduler address (tcp://host:port) to run the batches on")
    sw.add_argument("--threads", type=int, default=None, help="core threads per batch (default: all cores)")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            if args.scenario not in scenarios.names():
                raise UsageError(
                    f"no built-in scenario {args.scenario!r}{did_you_mean(args.scenario, scenarios.names())}; "
                    f"choose one of {', '.join(scenarios.names())}"
                )
            return run_demo(args.scenario, args.plot, args.seed)
        if args.command == "scenarios":
            width = max(len(n) for n in scenarios.names())
            for n in scenarios.names():
                print(f"{n:<{width}}  {scenarios.describe(n).title}")
            return 0
        if args.command == "run":
            return run_saved(args.directory, args.out, args.seed, args.check_invariants)
        if args.command == "sweep":
            return run_sweep(args.directory, args.grid, args.seeds, args.shock, args.at, args.out, args.resume,
                             args.scheduler, args.threads)
    except (UsageError, LiqsimError) as err:
        print(f"liqsim: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`liqsim demo | head`): stop quietly, as Unix tools do. Point stdout
        # at /dev/null so that the interpreter's final flush does not raise a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe
    return 2


if __name__ == "__main__":
    sys.exit(main())
