"""asv benchmarks of the Exchange API: loading a market, a cascade, and the vectorised formulas.

    asv run -E existing:$(which python) --bench bench_exchange
"""

import numpy as np

import liqsim
from liqsim import scenarios


class DemoCascade:
    """The built-in short squeeze: ~3,000 shorts, a 1,500 ETH market buy, 10 rounds."""

    def setup(self):
        self.market = scenarios.eth_short_squeeze()

    def time_build_market(self):
        scenarios.build_exchange(self.market, mark_rule="last")

    def time_build_and_cascade(self):
        ex = scenarios.build_exchange(self.market, mark_rule="last")
        ex.submit(self.market["params"]["whale_id"], "buy", 1500.0)


class WhatIf:
    """Branching a what-if: ``Exchange.copy()`` of the demo market (≈5,000 accounts, 1,400-level
    book) against building it again, and a copy followed by the cascade."""

    def setup(self):
        self.market = scenarios.eth_short_squeeze()
        self.ex = scenarios.build_exchange(self.market, mark_rule="last")

    def time_copy(self):
        self.ex.copy()

    def time_copy_and_cascade(self):
        self.ex.copy().submit(self.market["params"]["whale_id"], "buy", 1500.0)


class LoadAccounts:
    """Loading 1 M leveraged shorts from numpy columns (trigger prices computed for each)."""

    timeout = 300

    def setup(self):
        rng = np.random.default_rng(0)
        n = 1_000_000
        qty = np.round(rng.uniform(0.01, 2.0, n), 3)
        self.accounts = {
            "trader_id": np.arange(n),
            "balance": np.round(qty * 3000.0 / 20 * rng.uniform(1.0, 2.0, n), 2),
            "side": np.full(n, "short"),
            "qty": qty,
            "entry_price": np.round(rng.uniform(2900.0, 3000.0, n), 2),
            "leverage": np.full(n, 20.0),
        }

    def time_load_1m_accounts(self):
        liqsim.Exchange(symbol="ETHUSDT").load_accounts(self.accounts)

    def peakmem_load_1m_accounts(self):
        liqsim.Exchange(symbol="ETHUSDT").load_accounts(self.accounts)


class VectorisedFormulas:
    def setup(self):
        rng = np.random.default_rng(1)
        n = 1_000_000
        self.qty = rng.uniform(0.01, 50.0, n)
        self.entry = rng.uniform(20_000.0, 100_000.0, n)
        self.balance = self.qty * self.entry / rng.uniform(2.0, 100.0, n)

    def time_liquidation_price_1m(self):
        liqsim.liquidation_price("short", self.qty, self.entry, self.balance, venue="binance", symbol="BTCUSDT")

    def time_maintenance_margin_1m(self):
        liqsim.maintenance_margin(self.qty * self.entry, venue="binance", symbol="BTCUSDT")
