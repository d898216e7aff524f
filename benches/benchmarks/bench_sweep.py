"""asv benchmarks of `liqsim.sweep`: runs per second of a small scenario, and of a small venue
(BTC and ETH sharing cross margin), on 1 and 2 core threads.

    cd benches && asv run -E existing:$(which python) --bench bench_sweep

Or without asv: ``python benches/benchmarks/bench_sweep.py`` prints the same figures.
"""

import time

import numpy as np

import liqsim
from liqsim import agents

RUNS = 16


def small_scenario():
    """ETH at 3,000: 300 shorts at 50x stacked from ~3,010 up, thin static liquidity every 0.5%,
    a maker ($30k within 10 bp, 100 ms refresh), ~20 noise trades a second, 60 simulated seconds
    (~1,800 events, ~0.1 s a run)."""
    n = 300
    accounts = {"trader_id": np.arange(1, n + 1), "balance": 40.0 + np.arange(n), "side": ["short"] * n,
                "qty": np.ones(n), "entry_price": np.full(n, 3000.0), "leverage": np.full(n, 50)}
    offsets = 3000 * 0.005 * np.arange(1, 21)
    book = {"side": ["ask"] * 20 + ["bid"] * 20, "price": np.round(np.r_[3000 + offsets, 3000 - offsets], 2),
            "qty": np.full(40, 2.0)}
    return liqsim.Scenario(
        market={"venue": "binance", "symbol": "ETHUSDT", "mark_rule": "last", "insurance_fund": 1e6},
        book=book, accounts=accounts, index={"ts": [0], "price": [3000.0]},
        agents=[agents.MarketMaker(depth_10bp=30_000, refill_half_life=5.0), agents.NoiseTaker(rate_per_s=20.0)],
        end=60.0, sample_every=1.0, seed=1,
    )


def small_venue_scenario():
    """BTC at 50,000 and ETH at 3,000 sharing cross margin: 200 cross accounts short 0.2 BTC and
    2 ETH each (800 + 5k USDT: under maintenance from BTC ≈ +7 % with ETH flat), a maker per book
    around the index, ~10 noise trades a second per book, 60 simulated seconds."""
    n = 200
    ids = np.arange(1, n + 1)
    accounts = {
        "symbol": ["BTCUSDT"] * n + ["ETHUSDT"] * n + ["BTCUSDT", "ETHUSDT"],
        "trader_id": np.r_[ids, ids, 1_000_000, 1_000_001],
        "balance": np.r_[800.0 + 5.0 * np.arange(n), np.zeros(n), 1e9, 1e9],
        "side": ["short"] * (2 * n) + ["long", "long"],
        "qty": np.r_[np.full(n, 0.2), np.full(n, 2.0), 0.2 * n, 2.0 * n],
        "entry_price": np.r_[np.full(n, 50_000.0), np.full(n, 3_000.0), 50_000.0, 3_000.0],
        "leverage": np.r_[np.full(2 * n, 50), 10, 10],
    }
    markets = {
        "BTCUSDT": {"venue": "binance", "tick_size": 0.1, "lot_size": 0.001, "mark_rule": "index"},
        "ETHUSDT": {"venue": "binance", "tick_size": 0.01, "lot_size": 0.001, "mark_rule": "index"},
    }
    return liqsim.Scenario(
        market=markets, accounts=accounts,
        index={"ts": [0, 0], "symbol": ["BTCUSDT", "ETHUSDT"], "price": [50_000.0, 3_000.0]},
        agents=[agents.MarketMaker(symbol="BTCUSDT", reference="index", depth_10bp=2e6),
                agents.MarketMaker(symbol="ETHUSDT", reference="index", depth_10bp=1e6),
                agents.NoiseTaker(symbol="BTCUSDT", rate_per_s=10.0),
                agents.NoiseTaker(symbol="ETHUSDT", rate_per_s=10.0)],
        end=60.0, sample_every=1.0, seed=1,
    )


#: BTC index jumps at 10 s: +0 %, +5 %, +8 %, +12 % (the last two liquidate cross accounts).
VENUE_SHOCKS = [{"ts": 10.0, "symbol": "BTCUSDT", "index": p} for p in (50_000.0, 52_500.0, 54_000.0, 56_000.0)]


class SweepSmallScenario:
    params = [1, 2]
    param_names = ["threads"]
    timeout = 300

    def setup(self, threads):
        self.scn = small_scenario()
        self.shocks = [{"ts": 10.0, "side": "buy", "qty": q} for q in (1.0, 5.0, 20.0, 50.0)]

    def time_sweep_16_runs(self, threads):
        liqsim.sweep(self.scn, seeds=4, shocks=self.shocks, threads=threads, progress=False)

    def track_runs_per_second(self, threads):
        started = time.perf_counter()
        liqsim.sweep(self.scn, seeds=4, shocks=self.shocks, threads=threads, progress=False)
        return RUNS / (time.perf_counter() - started)

    track_runs_per_second.unit = "runs/s"


class SweepSmallVenue:
    params = [1, 2]
    param_names = ["threads"]
    timeout = 300

    def setup(self, threads):
        self.scn = small_venue_scenario()

    def time_venue_sweep_16_runs(self, threads):
        liqsim.sweep(self.scn, seeds=4, shocks=VENUE_SHOCKS, threads=threads, progress=False)

    def track_venue_runs_per_second(self, threads):
        started = time.perf_counter()
        liqsim.sweep(self.scn, seeds=4, shocks=VENUE_SHOCKS, threads=threads, progress=False)
        return RUNS / (time.perf_counter() - started)

    track_venue_runs_per_second.unit = "runs/s"


def _measure(name, scn, shocks):
    for threads in (1, 2):
        best = (float("inf"), 0.0, 0.0)
        for _ in range(3):
            started, cpu = time.perf_counter(), time.process_time()
            table = liqsim.sweep(scn, seeds=4, shocks=shocks, threads=threads, progress=False)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert table.column("error").null_count == RUNS, table.column("error").to_pylist()
            mean_run = float(np.mean(table.column("wall_time_s").to_numpy()))
            best = min(best, (wall, cpu, mean_run))
        wall, cpu, mean_run = best
        overhead = wall / RUNS - mean_run if threads == 1 else float("nan")
        print(f"{name} threads={threads}: {RUNS / wall:.1f} runs/s (best of 3), {cpu:.2f} s CPU, mean run "
              f"{mean_run * 1e3:.1f} ms, overhead per run beyond the simulation {overhead * 1e3:.2f} ms")


if __name__ == "__main__":
    _measure("one market", small_scenario(), [{"ts": 10.0, "side": "buy", "qty": q} for q in (1.0, 5.0, 20.0, 50.0)])
    _measure("venue", small_venue_scenario(), VENUE_SHOCKS)
