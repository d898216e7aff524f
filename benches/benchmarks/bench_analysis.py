"""asv benchmarks of liqsim.analysis: the exact map of 1 M accounts, the heatmap estimate over a
year of hourly bars.

    asv run -E existing:$(which python) --bench bench_analysis
"""

import numpy as np
import pyarrow as pa

import liqsim


def million_accounts(n=1_000_000, seed=0):
    """1 M BTC positions, 30 % isolated, leverage 5–100x; side and margin mode as Arrow
    dictionary columns (what pandas/polars categoricals arrive as)."""
    rng = np.random.default_rng(seed)
    lev = rng.choice([5.0, 10.0, 20.0, 50.0, 100.0], n)
    entry = np.round(rng.uniform(90_000, 110_000, n), 1)
    qty = np.round(rng.lognormal(-2, 1, n), 3) + 0.001
    table = pa.table({
        "balance": np.round(qty * entry / lev * rng.uniform(1, 2, n), 2),
        "margin_mode": pa.array(np.where(rng.random(n) < 0.3, "isolated", "cross")).dictionary_encode(),
        "side": pa.array(np.where(rng.random(n) < 0.5, "long", "short")).dictionary_encode(),
        "qty": qty,
        "entry_price": entry,
        "leverage": lev,
    })
    return table


def year_of_hourly_bars(seed=1):
    n = 24 * 365
    rng = np.random.default_rng(seed)
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, 0.003, n)) * close
    return {
        "ts": np.arange(n) * 3_600_000_000_000,
        "open": open_,
        "close": close,
        "high": np.maximum(open_, close) + wick,
        "low": np.minimum(open_, close) - wick,
        "open_interest": 80_000 + np.cumsum(rng.normal(0, 200, n)),
        "taker_buy_volume": rng.uniform(0, 1_000, n),
        "taker_sell_volume": rng.uniform(0, 1_000, n),
    }


class ExactMap:
    """liqsim.liquidation_map on 1 M accounts (budget: 100 ms), 200 buckets around the mark."""

    timeout = 300

    def setup(self):
        self.accounts = million_accounts()

    def time_liquidation_map_1m(self):
        liqsim.liquidation_map(self.accounts, mark=100_000.0, venue="binance", symbol="BTCUSDT")


class Estimate:
    """liqsim.estimate_liquidation_map over 8,760 hourly bars, 250 buckets."""

    timeout = 300

    def setup(self):
        self.bars = year_of_hourly_bars()

    def time_estimate_year_hourly(self):
        liqsim.estimate_liquidation_map(self.bars)

    def time_estimate_year_hourly_taker_split_oldest_first(self):
        liqsim.estimate_liquidation_map(self.bars, split="taker", oi_decrease="oldest")
