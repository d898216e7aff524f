"""asv benchmarks of `liqsim.simulate`: a busy simulated hour with leveraged accounts loaded, and a
cascade through a million accounts (issue 9's budgets).

    asv run -E existing:$(which python) --bench bench_simulation
"""

import numpy as np

import liqsim
from liqsim import agents


def busy_hour(n_accounts):
    """A market maker refreshing every 100 ms ($2M within 10 bp), ~2 noise trades a second, and
    ``n_accounts`` leveraged accounts (2–50x, entries around the price) for one simulated hour."""
    rng = np.random.default_rng(0)
    side = np.where(rng.random(n_accounts) < 0.5, "long", "short")
    lev = rng.choice([2, 5, 10, 20, 50], n_accounts)
    entry = np.round(3000 * (1 + rng.normal(0, 0.003, n_accounts)), 2)
    qty = np.round(rng.uniform(0.01, 2, n_accounts), 3)
    underwater = np.maximum(0, np.where(side == "long", entry - 3000, 3000 - entry)) * qty
    balance = np.round(qty * 3000 / lev * 1.2 + underwater, 2)
    accounts = {"trader_id": np.arange(1, n_accounts + 1), "balance": balance, "side": side, "qty": qty,
                "entry_price": entry, "leverage": lev}
    return liqsim.Scenario(
        market={"venue": "binance", "symbol": "ETHUSDT", "mark_rule": "last", "insurance_fund": 1e7},
        accounts=accounts, index={"ts": [0], "price": [3000.0]},
        agents=[agents.MarketMaker(depth_10bp=2e6), agents.NoiseTaker(rate_per_s=2.0, size_min=2000)],
        end=3600.0, sample_every=1.0, seed=1,
    )


class BusyHour:
    params = [10_000, 100_000]
    param_names = ["accounts"]
    timeout = 300

    def setup(self, n):
        self.scn = busy_hour(n)

    def time_simulate(self, n):
        liqsim.simulate(self.scn)

    def peakmem_simulate(self, n):
        liqsim.simulate(self.scn)


class MillionAccountCascade:
    """1 M shorts (10–50x, entered up to 2% below 3,000) and a 3,000 ETH market buy into a thin
    book: load and a cascade through all of them."""

    timeout = 600

    def setup(self):
        import pyarrow as pa

        n = 1_000_000
        rng = np.random.default_rng(0)
        qty = np.round(rng.uniform(0.01, 1, n), 3)
        entry = np.round(3000 * (1 - rng.uniform(0, 0.02, n)), 2)
        lev = rng.choice([10, 20, 50], n)
        bal = np.round(qty * entry / lev + np.maximum(0, 3000 - entry) * qty + qty * 3000 * 0.006, 2)
        side = pa.DictionaryArray.from_arrays(pa.array(np.r_[np.zeros(n, np.int8), [1]]), pa.array(["short", "flat"]))
        accounts = pa.table({"trader_id": np.r_[np.arange(1, n + 1), 0], "balance": np.r_[bal, 1e9], "side": side,
                             "qty": np.r_[qty, 0.0], "entry_price": np.r_[entry, np.nan], "leverage": np.r_[lev, 10]})
        offsets = 3000 * 0.001 * np.arange(1, 301)
        book = {"side": ["ask"] * 300 + ["bid"] * 300, "price": np.round(np.r_[3000 + offsets, 3000 - offsets], 2),
                "qty": np.full(600, 50.0)}
        self.scn = liqsim.Scenario(
            market={"venue": "binance", "symbol": "ETHUSDT", "mark_rule": "last", "insurance_fund": 1e9},
            book=book, accounts=accounts, index={"ts": [0], "price": [3000.0]},
            orders={"ts": [10**9], "trader_id": [0], "action": ["market"], "side": ["buy"], "qty": [3000.0]},
            end=5.0,
        )

    def time_load_and_cascade(self):
        liqsim.simulate(self.scn)

    def peakmem_load_and_cascade(self):
        liqsim.simulate(self.scn)


if __name__ == "__main__":
    # Quick figures without asv: python benches/benchmarks/bench_simulation.py
    # The first call in a fresh process (scenario + simulate, one-time import and setup costs
    # included), then `simulate` on the built scenario as BusyHour.time_simulate times it, and the
    # core call inside it (`SimulationResult.wall_time`); medians, as the machine is shared.
    import statistics
    import time

    for n in (10_000, 100_000):
        t0 = time.perf_counter()
        scn = busy_hour(n)
        liqsim.simulate(scn)
        first = time.perf_counter() - t0
        calls, cores = [], []
        for _ in range(9):
            t0 = time.perf_counter()
            res = liqsim.simulate(scn)
            calls.append(time.perf_counter() - t0)
            cores.append(res.wall_time)
        events = res.events + res.agent_actions
        core = statistics.median(cores)
        print(f"busy hour, {n:,} accounts: first call {first * 1e3:.0f} ms; simulate median "
              f"{statistics.median(calls) * 1e3:.1f} ms (min {min(calls) * 1e3:.1f}); core {core * 1e3:.1f} ms "
              f"for {events:,} events = {events / core / 1e6:.2f} M events/s")
