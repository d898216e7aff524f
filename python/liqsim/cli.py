"""The ``liqsim`` command line."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any, NoReturn

import numpy as np

from . import __version__, scenarios
from .errors import LiqsimError


class UsageError(Exception):
    """A user mistake the CLI reports in one line (exit code 2)."""


def _money(x: float) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"${x / div:,.2f}{unit}"
    return f"${x:,.0f}"


def run_demo(buy: float, mark_rule: str, seed: int) -> int:
    t0 = time.perf_counter()
    market = scenarios.eth_short_squeeze(seed=seed)
    p = market["params"]
    ex = scenarios.build_exchange(market, mark_rule=mark_rule)
    acc = ex.accounts()
    shorts = acc["position"] < 0
    shorts &= acc["trader_id"] >= 0
    short_qty = -acc["position"][shorts].sum()
    lp = acc["liquidation_price"][shorts]
    bid, ask = ex.best_bid, ex.best_ask
    assert bid is not None and ask is not None, "the built-in market has both sides"
    print(f"liqsim demo: an ETH-like perpetual on {p['venue']} {p['symbol']} rules, mark price = {mark_rule}")
    print(f"  book       best bid {bid:,.2f} / best ask {ask:,.2f}, background liquidity out to ±10%")
    print(
        f"  shorts     {shorts.sum():,} leveraged accounts, {short_qty:,.0f} ETH ({_money(short_qty * ask)}), "
        f"liquidation prices {np.nanmin(lp):,.2f} … {np.nanmax(lp):,.2f} (median {np.nanmedian(lp):,.2f})"
    )
    fund0 = ex.insurance_fund
    print(f"  insurance  {_money(fund0)}")
    print(f"\nA market buy of {buy:,.0f} ETH ({_money(buy * ask)}) hits the asks:\n")

    out = ex.submit(p["whale_id"], "buy", buy)
    if out["status"] == "rejected" or out["avg_price"] is None:
        raise UsageError(
            f"the demo buy of {buy:,} ETH was {out['status']} ({out['reason'] or 'nothing filled'}); "
            "try a smaller size (the default is 1500)"
        )
    liq = ex.liquidations()
    adl = ex.adl()
    print(f"  the buy filled {out['filled']:,.3f} ETH at {out['avg_price']:,.2f} on average; then the cascade:\n")
    header = f"  {'round':>5} {'price reached':>14} {'accounts':>9} {'ETH':>10} {'notional':>11} {'insurance fund':>15} {'ADL':>5}"
    print(header)
    fund = fund0
    fill = np.where(np.isnan(liq["avg_fill_price"]), liq["bankruptcy_price"], liq["avg_fill_price"])
    rounds = liq["round"]
    for r in range(1, int(rounds.max()) + 1 if len(rounds) else 1):
        sel = rounds == r
        fund += liq["insurance_delta"][sel].sum()
        reached = np.nanmax(liq["avg_fill_price"][sel]) if np.isfinite(liq["avg_fill_price"][sel]).any() else float("nan")
        print(
            f"  {r:>5} {reached:>14,.2f} {sel.sum():>9,} {liq['qty'][sel].sum():>10,.1f} "
            f"{_money((liq['qty'][sel] * fill[sel]).sum()):>11} {_money(fund):>15} {(adl['round'] == r).sum():>5}"
        )
    notional = (liq["qty"] * fill).sum()
    last = ex.last if ex.last is not None else ask
    move = (last / ask - 1) * 100
    print(
        f"\n  {len(rounds):,} shorts liquidated ({_money(notional)}) in {int(rounds.max()) if len(rounds) else 0} rounds; "
        f"last price {ask:,.2f} → {last:,.2f} ({move:+.2f}%), mark {ex.mark or last:,.2f}"
    )
    kinds = {k: int((liq["kind"] == k).sum()) for k in ("full", "partial", "backstop", "adl")}
    print(
        f"  close-outs: {kinds['full']:,} in the book, {kinds['partial']:,} partial, {kinds['backstop']:,} taken over "
        f"by the fund, {len(adl['qty']):,} ADL fills; insurance fund {_money(fund0)} → {_money(ex.insurance_fund)}"
    )
    deposits, total = ex.money()
    ex.check_invariants()
    print(f"  money conserved to the unit: {_money(deposits)} in, {_money(total)} accounted for; invariants hold")
    print("  (try --buy 1000: below the tipping point; --mark median: Binance's mark rule damps the squeeze)")
    print(f"\ndone in {time.perf_counter() - t0:.2f} s")
    return 0


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
        side, sep, sizes = item.partition("=")
        if not sep or side not in ("buy", "sell"):
            raise UsageError(f"--shock takes buy=q1,q2 or sell=q1,q2 (base units), got {item!r}")
        try:
            shocks += [{"ts": float(at), "side": side, "qty": float(q)} for q in sizes.split(",")]
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
    for row in table.select(shown + ["liquidated_long_notional", "liquidated_short_notional", "peak_price",
                                     "trough_price", "error"]).to_pylist()[:50]:
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
    demo = sub.add_parser("demo", help="run the built-in short-squeeze market")
    demo.add_argument(
        "--buy", type=_positive_amount, default=1500.0, help="size of the market buy, in ETH (default 1500)"
    )
    demo.add_argument(
        "--mark", default="last", type=str.lower, choices=["last", "median", "index"],
        help="mark price rule: last trade (default), Binance median rule, or index",
    )
    demo.add_argument("--seed", type=int, default=7, help="seed of the built-in market (default 7)")
    sub.add_parser("scenarios", help="list the built-in markets")
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
    sw.add_argument("--shock", action="append", default=[], metavar="SIDE=Q1,Q2",
                    help="market orders of these sizes (base units) at --at, e.g. buy=10,50 (repeatable)")
    sw.add_argument("--at", type=float, default=0.0, help="time of the shocks, seconds after start (default 0)")
    sw.add_argument("--out", help="stream the runs to this Parquet file")
    sw.add_argument("--resume", action="store_true", help="keep the runs already in --out and run the rest")
    sw.add_argument("--scheduler", help="a Dask scheduler address (tcp://host:port) to run the batches on")
    sw.add_argument("--threads", type=int, default=None, help="core threads per batch (default: all cores)")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return run_demo(args.buy, args.mark, args.seed)
        if args.command == "scenarios":
            print("\n".join(scenarios.names()))
            return 0
        if args.command == "run":
            return run_saved(args.directory, args.out, args.seed, args.check_invariants)
        if args.command == "sweep":
            return run_sweep(args.directory, args.grid, args.seeds, args.shock, args.at, args.out, args.resume,
                             args.scheduler, args.threads)
    except (UsageError, LiqsimError) as err:
        print(f"liqsim: error: {err}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
