"""asv benchmarks of the Python API of the order book.

The headline figure is ``ProcessTable.time_process_1m``: one call of ``OrderBook.process`` on a
1,000,000-row Arrow table (building the table is not timed; converting it is). Throughput in
actions/s = 1e6 / time. Run from this folder:

    asv run -E existing --quick --show-stderr          # against the installed package
"""

import numpy as np
import pyarrow as pa

import liqsim


def action_table(n: int, seed: int = 1) -> pa.Table:
    """A realistic mix as an Arrow table: 45% limit adds around a slowly moving mid (power-law
    distance from it), 40% cancels of earlier adds, 10% modifies, 5% IOC that cross the spread."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(4, size=n, p=[0.45, 0.40, 0.10, 0.05])
    mid = 385_000 + np.cumsum(rng.choice([-1, 0, 1], size=n, p=[0.0005, 0.999, 0.0005]))
    side = rng.integers(0, 2, size=n)
    order_id = np.arange(n, dtype=np.int64)
    # Cancels and modifies point at a recent GTC add (geometric lag, mean 500 adds back): mostly
    # still resting, sometimes already filled or cancelled, as in real order flow. A modify keeps
    # its order's side, so a re-price stays on its own side of the book.
    adds = np.flatnonzero(kind == 0)
    adds_before = np.searchsorted(adds, np.arange(n))
    lag = rng.geometric(1 / 500, size=n)
    target = adds[np.clip(adds_before - lag, 0, len(adds) - 1)]
    is_ref = ((kind == 1) | (kind == 2)) & (adds_before > 0)
    order_id = np.where(is_ref, target, order_id)
    side = np.where(is_ref, side[target], side)
    dist = np.minimum(rng.pareto(1.3, size=n), 2000).astype(np.int64)
    sign = np.where(side == 0, -1, 1)
    ticks = mid + sign * (1 + dist)
    ticks = np.where(kind == 3, mid - sign * 5, ticks)  # IOC: crosses by 5 ticks
    qty_lots = rng.integers(1, 100, size=n)
    action = np.array(["limit", "cancel", "modify", "limit"])[kind]
    tif = np.where(kind == 3, "ioc", "gtc")
    return pa.table({
        "action": pa.array(action).dictionary_encode(),
        "side": pa.array(np.array(["buy", "sell"])[side]).dictionary_encode(),
        "price": np.where(kind == 1, np.nan, ticks / 100.0),
        "qty": qty_lots / 1000.0,
        "order_id": order_id,
        "tif": pa.array(tif).dictionary_encode(),
        "owner": rng.integers(0, 50, size=n),
    })


class ProcessTable:
    timeout = 300
    number = 1
    repeat = (3, 10, 60.0)

    def setup_cache(self):
        return action_table(1_000_000)

    def time_process_1m(self, table):
        liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(table)

    def time_process_1m_codes(self, table):
        liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(table, decode_names=False)

    def peakmem_process_1m(self, table):
        liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(table)


class OneAtATime:
    def setup(self):
        self.book = liqsim.OrderBook(tick_size=0.01, lot_size=0.001)
        for i in range(1000):
            self.book.submit("sell", 1.0, price=3850.01 + 0.01 * i, owner=1)
            self.book.submit("buy", 1.0, price=3849.99 - 0.01 * i, owner=1)

    def time_submit_cancel_10k(self):
        book = self.book
        for _ in range(5_000):
            out = book.submit("buy", 0.5, price=3800.00, owner=2)
            book.cancel(out["order_id"])
